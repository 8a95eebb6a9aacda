// Which incoming calls the softphone answers by itself: only an INVITE whose
// call-id header names a call this browser just asked for. Pure (no SIP, no
// timers, no clock: the caller passes `now`), so the rule is tested alone.
//
// The worker says `click` just before it sends the host `call.start`, and
// `result` when the host replies with the call's id (or fails). The PBX's
// INVITE can arrive before that reply: an INVITE with the header arriving
// while a click is pending is held (not answered, not offered to the user)
// until the click's result, at most HOLD_MS, then answered only if the ids
// match. Everything else rings for the user and is never answered alone.

/** How long a click waits for its result before it is forgotten. */
export const CLICK_PENDING_MS = 10_000;
/** How long an INVITE with the header is held while a click is pending. */
export const HOLD_MS = 10_000;
/** How long a call id from a click result stays expected. */
export const EXPECTED_MS = 60_000;

/** What to do with an incoming INVITE. */
export const DECISION = Object.freeze({
  /** A call this browser asked for: answer now. */
  ANSWER: 'answer',
  /** Maybe ours: a click is waiting for its result. Decide again later. */
  HOLD: 'hold',
  /** Not ours (or unknown): ring, and let the user answer or decline. */
  RING: 'ring',
});

/** The clicks and call ids the softphone knows of. */
export function createAnswering() {
  /** Click id → when it was sent. */
  const pending = new Map();
  /** Call id → when its click result arrived. */
  const expected = new Map();

  function forgetOld(now) {
    for (const [click, at] of pending) if (now - at >= CLICK_PENDING_MS) pending.delete(click);
    for (const [callId, at] of expected) if (now - at >= EXPECTED_MS) expected.delete(callId);
  }

  return {
    /** A click was sent to the host. */
    click(click, now) {
      if (typeof click === 'string' && click) pending.set(click, now);
    },

    /** The click's outcome: the id of the call it placed, or none. */
    result(click, callId, now) {
      pending.delete(click);
      if (typeof callId === 'string' && callId) expected.set(callId, now);
    },

    /**
     * The decision for an INVITE carrying `header` (the call-id header's
     * value, or null) that has been held since `heldSince` (its arrival
     * when first asked). An answered call id is used up.
     */
    decide(header, now, heldSince = now) {
      forgetOld(now);
      if (typeof header !== 'string' || !header) return DECISION.RING;
      if (expected.has(header)) {
        expected.delete(header);
        return DECISION.ANSWER;
      }
      if (pending.size > 0 && now - heldSince < HOLD_MS) return DECISION.HOLD;
      return DECISION.RING;
    },

    /** Forgets every click and call id (sign-out, new credentials). */
    clear() {
      pending.clear();
      expected.clear();
    },
  };
}
