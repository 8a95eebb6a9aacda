// The user's calls as the worker knows them: the live call and the recent
// ones, kept in the popup's state. A call never goes backwards: older news
// of a known call (a slow reply overtaken by an event) is dropped.
import { CALL_STATE, STATE_ORDER } from '../shared/protocol.js';

/** How many recent calls the popup lists. */
export const RECENT = 10;

/** Whether `call` is older news of `known`: the same call at an earlier state. */
export function isBehind(call, known) {
  return (
    Boolean(known) && call.id === known.id && STATE_ORDER.indexOf(call.state) < STATE_ORDER.indexOf(known.state)
  );
}

/** What a changed call did to the state. */
export const CHANGE = Object.freeze({
  /** Old news, or not a call: nothing changed. */
  IGNORED: 'ignored',
  /** The call is the live one now. */
  LIVE: 'live',
  /** The live call ended. */
  ENDED: 'ended',
  /** Only the recent list changed. */
  RECENT: 'recent',
});

/**
 * Applies a changed call of the user's to `state.live` and `state.recent`.
 * @param {{live: object | null, recent: object[]}} state
 * @param {import('../shared/protocol.js').Call} call
 * @returns {string} a CHANGE
 */
export function applyCall(state, call) {
  if (!call || typeof call.id !== 'string') return CHANGE.IGNORED;
  const index = state.recent.findIndex((c) => c.id === call.id);
  if (isBehind(call, state.live) || (index >= 0 && isBehind(call, state.recent[index]))) {
    return CHANGE.IGNORED;
  }
  if (index >= 0) state.recent[index] = call;
  else state.recent = [call, ...state.recent].slice(0, RECENT);
  if (call.state !== CALL_STATE.ENDED) {
    state.live = call;
    return CHANGE.LIVE;
  }
  if (state.live && state.live.id === call.id) {
    state.live = null;
    return CHANGE.ENDED;
  }
  return CHANGE.RECENT;
}
