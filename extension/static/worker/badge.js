// What the user sees of calls outside the popup: the toolbar badge (the
// live call's stage, a running timer while it is connected, "!" when
// something keeps calls from working, or "tel" while the browser phone is
// not ready) and a notification when a call ends.
import { CALL_STATE, PHONE_KIND } from '../shared/protocol.js';
import { HOST_STATE } from '../shared/popup-port.js';
import { STATE_TEXT, numberOf, outcomeLine, phoneLine, phoneReady, talkSeconds } from '../shared/words.js';

/** The badge for `state` at `now` (ms since epoch). */
export function badgeFor(state, now = Date.now()) {
  const call = state.live;
  if (call) {
    const title = `Disca: ${STATE_TEXT[call.state] || call.state} ${numberOf(call)}`;
    if (call.state === CALL_STATE.CONNECTED) {
      // Never below zero, whatever the clocks of the host and the browser.
      const seconds = Math.max(0, talkSeconds(call, now));
      const minutes = Math.floor(seconds / 60);
      const text =
        minutes < 10 ? `${minutes}:${String(Math.floor(seconds % 60)).padStart(2, '0')}` : `${minutes}m`;
      return { text, color: '#00855a', title };
    }
    const early = call.state === CALL_STATE.QUEUED || call.state === CALL_STATE.RINGING_AGENT;
    return { text: '...', color: early ? '#c27c0e' : '#1f6fb2', title };
  }
  if (state.host === HOST_STATE.NOT_INSTALLED || state.host === HOST_STATE.FAILED || state.problem) {
    return { text: '!', color: '#a61b1b', title: 'Disca: abra para ver o que falta' };
  }
  if (state.phone && state.phone.kind === PHONE_KIND.BROWSER && !phoneReady(state.phone)) {
    return { text: 'tel', color: '#c27c0e', title: `Disca: ${phoneLine(state.phone)}` };
  }
  return { text: '', color: '#5f6b7a', title: 'Disca' };
}

/**
 * Keeps the badge of `action` showing `getState()`, every second while a
 * call is connected.
 * @param {typeof chrome.action} action
 * @param {() => object} getState
 */
export function createBadge(action, getState) {
  let ticking = null;
  function show() {
    const state = getState();
    const badge = badgeFor(state);
    action.setBadgeText({ text: badge.text });
    action.setBadgeBackgroundColor({ color: badge.color });
    action.setTitle({ title: badge.title });
    const connected = Boolean(state.live && state.live.state === CALL_STATE.CONNECTED);
    if (connected && !ticking) ticking = setInterval(show, 1000);
    if (!connected && ticking) {
      clearInterval(ticking);
      ticking = null;
    }
  }
  return { show };
}

/** The notification for a call of the user's that just ended. */
export function notifyEnded(chrome, call) {
  chrome.notifications.create(`call-${call.id}`, {
    type: 'basic',
    iconUrl: chrome.runtime.getURL('icons/disca-128.png'),
    title: `Ligação encerrada: ${numberOf(call)}`,
    message: outcomeLine(call),
  });
}
