import assert from 'node:assert/strict';
import { test } from 'node:test';

import { addReport, emptyStats } from '../static/offscreen/stats.js';

test('packets are the last report\'s, levels the peak so far', () => {
  let stats = emptyStats('call-1');
  stats = addReport(stats, [
    { type: 'inbound-rtp', kind: 'audio', packetsReceived: 50, audioLevel: 0.2 },
    { type: 'outbound-rtp', kind: 'audio', packetsSent: 49 },
    { type: 'media-source', kind: 'audio', audioLevel: 0.1 },
    { type: 'inbound-rtp', kind: 'video', packetsReceived: 999 },
    { type: 'candidate-pair', bytesSent: 10 },
  ]);
  stats = addReport(stats, [
    { type: 'inbound-rtp', kind: 'audio', packetsReceived: 100, audioLevel: 0.05 },
    { type: 'outbound-rtp', kind: 'audio', packetsSent: 99 },
    { type: 'media-source', kind: 'audio', audioLevel: 0.3 },
  ]);
  assert.deepEqual(stats, {
    call_id: 'call-1',
    packets_received: 100,
    packets_sent: 99,
    inbound_level: 0.2,
    outbound_level: 0.3,
  });
});

test('missing figures keep the previous ones', () => {
  const stats = addReport({ ...emptyStats(null), packets_received: 7 }, [{ type: 'inbound-rtp', kind: 'audio' }, null]);
  assert.equal(stats.packets_received, 7);
  assert.equal(stats.call_id, null);
});
