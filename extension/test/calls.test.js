import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CALL_STATE, STATE_ORDER } from '../static/shared/protocol.js';
import { CHANGE, RECENT, applyCall, isBehind } from '../static/worker/calls.js';

const call = (id, state, extra = {}) => ({ id, state, to: '+5511987654321', ...extra });

test('states are in the order of a call\'s life', () => {
  assert.equal(STATE_ORDER[0], CALL_STATE.QUEUED);
  assert.equal(STATE_ORDER.at(-1), CALL_STATE.ENDED);
  assert.ok(isBehind(call('a', CALL_STATE.QUEUED), call('a', CALL_STATE.CONNECTED)));
  assert.ok(!isBehind(call('a', CALL_STATE.ENDED), call('a', CALL_STATE.CONNECTED)));
  assert.ok(!isBehind(call('b', CALL_STATE.QUEUED), call('a', CALL_STATE.CONNECTED)));
  assert.ok(!isBehind(call('a', CALL_STATE.QUEUED), null));
});

test('a call goes live, moves forward, never back, and ends', () => {
  const state = { live: null, recent: [] };
  assert.equal(applyCall(state, call('a', CALL_STATE.QUEUED)), CHANGE.LIVE);
  assert.equal(applyCall(state, call('a', CALL_STATE.RINGING_LEAD)), CHANGE.LIVE);
  assert.equal(applyCall(state, call('a', CALL_STATE.RINGING_AGENT)), CHANGE.IGNORED);
  assert.equal(state.live.state, CALL_STATE.RINGING_LEAD);
  assert.equal(state.recent.length, 1);
  assert.equal(applyCall(state, call('a', CALL_STATE.ENDED, { outcome: 'answered' })), CHANGE.ENDED);
  assert.equal(state.live, null);
  assert.equal(state.recent[0].state, CALL_STATE.ENDED);
  // An ended call that was not the live one only updates the list.
  assert.equal(applyCall(state, call('b', CALL_STATE.ENDED)), CHANGE.RECENT);
  assert.deepEqual(
    state.recent.map((c) => c.id),
    ['b', 'a'],
  );
  assert.equal(applyCall(state, { state: CALL_STATE.QUEUED }), CHANGE.IGNORED);
});

test('the recent list keeps the newest calls', () => {
  const state = { live: null, recent: [] };
  for (let i = 0; i < RECENT + 3; i += 1) applyCall(state, call(`c${i}`, CALL_STATE.ENDED));
  assert.equal(state.recent.length, RECENT);
  assert.equal(state.recent[0].id, `c${RECENT + 2}`);
});
