// The audio figures of a call from `RTCPeerConnection.getStats()`: packets
// received (inbound-rtp) and sent (outbound-rtp), and the peak audio level
// heard (inbound-rtp) and spoken (the microphone's media-source), as
// `AudioStats`. Pure: it reads a stats report, so it is tested without a
// browser.

/** The figures before the first report of a call. */
export function emptyStats(callId) {
  return { call_id: callId || null, packets_received: 0, packets_sent: 0, inbound_level: 0, outbound_level: 0 };
}

/**
 * `previous` updated with `report` (any iterable of stats objects, such as
 * an RTCStatsReport's values()): packet counts are the report's, levels
 * the peak so far.
 * @param {import('../shared/protocol.js').AudioStats} previous
 * @param {Iterable<object>} report
 */
export function addReport(previous, report) {
  const next = { ...previous };
  for (const entry of report) {
    if (!entry || entry.kind !== 'audio') continue;
    if (entry.type === 'inbound-rtp') {
      if (typeof entry.packetsReceived === 'number') next.packets_received = entry.packetsReceived;
      if (typeof entry.audioLevel === 'number') next.inbound_level = Math.max(next.inbound_level, entry.audioLevel);
    } else if (entry.type === 'outbound-rtp') {
      if (typeof entry.packetsSent === 'number') next.packets_sent = entry.packetsSent;
    } else if (entry.type === 'media-source') {
      if (typeof entry.audioLevel === 'number') next.outbound_level = Math.max(next.outbound_level, entry.audioLevel);
    }
  }
  return next;
}
