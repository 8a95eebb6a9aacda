// What the worker knows from disca-host, in the popup's state: who is
// logged in, whether the backend answers, the live and recent calls. Reads
// the host's status on demand (`refresh`) and follows its events
// (`onHostMessage`). Signing in and out starts and stops the browser phone.
import { BACKEND_STATE, ERROR_CODE, HOST_MESSAGE, REQUEST } from '../shared/protocol.js';
import { HOST_STATE } from '../shared/popup-port.js';
import { CHANGE, RECENT, applyCall } from './calls.js';
import { initialPhone } from './phone.js';
import { initialSignIn } from './sign-in.js';

/** The popup's state before the host has said anything. */
export function initialState(extensionId) {
  return {
    host: HOST_STATE.CONNECTING,
    hostError: null,
    loggedIn: null,
    user: null,
    backendUrl: null,
    // The company's address preset by IT (managed storage), if any.
    presetBackendUrl: null,
    // "Entrar": {pending, error, askAddress, tabId}.
    signIn: initialSignIn(),
    backend: BACKEND_STATE.CONNECTING,
    // {kind: 'auth' | 'backend', message}
    problem: null,
    live: null,
    recent: [],
    // The after-call form: {callId, dispositions, saving, saved} (worker/reports.js).
    report: null,
    // The browser phone: {kind, state: PhoneState, stats: AudioStats}.
    phone: initialPhone(),
    extensionId,
  };
}

/**
 * @param {object} options
 * @param {object} options.state the popup's state, changed in place
 * @param {{request: Function, succeeded: Function, readonly connected: boolean}} options.host
 * @param {() => void} options.publish the state changed
 * @param {(call: object) => void} options.ended the live call ended
 * @param {{signIn: () => void, signOut: () => void}} options.phone
 */
export function createSession({ state, host, publish, ended, phone }) {
  /** Counts call changes, so a slower status reply never undoes one. */
  let callChanges = 0;

  function onCall(call) {
    const change = applyCall(state, call);
    if (change === CHANGE.IGNORED) return;
    callChanges += 1;
    if (change === CHANGE.ENDED) ended(call);
    publish();
  }

  /** Asks the host who is logged in, the live call, the recent calls. */
  async function refresh() {
    const seen = callChanges;
    const reply = await host.request({ type: REQUEST.STATUS_GET });
    if (reply.type !== HOST_MESSAGE.STATUS) {
      // A host that answers but cannot serve (another protocol version, a
      // locked credential store): say so rather than "connecting" forever.
      if (host.connected && reply.error && reply.error.code !== ERROR_CODE.HOST_UNAVAILABLE) {
        state.host = HOST_STATE.FAILED;
        state.hostError = reply.error.message;
        publish();
      }
      return;
    }
    host.succeeded();
    const status = reply.status;
    state.host = HOST_STATE.READY;
    state.hostError = null;
    state.loggedIn = status.logged_in;
    state.user = status.user || null;
    state.backendUrl = status.backend_url || null;
    state.backend = status.backend;
    if (status.logged_in) phone.signIn();
    else phone.signOut();
    if (!status.logged_in) {
      state.problem = { kind: 'auth', message: 'Você não está conectado ao Disca.' };
    } else if (status.backend !== BACKEND_STATE.UNREACHABLE) {
      state.problem = null;
    } else if (!state.problem || state.problem.kind !== 'backend') {
      state.problem = { kind: 'backend', message: '' };
    }
    // Only if no newer call change arrived while the host answered.
    if (callChanges === seen) state.live = status.live_call || null;
    const recent = await host.request({ type: REQUEST.CALLS_RECENT, limit: RECENT });
    if (recent.type === HOST_MESSAGE.RECENT_CALLS && callChanges === seen) state.recent = recent.calls;
    publish();
  }

  /** @param {import('../shared/protocol.js').HostMessage} message */
  function onHostMessage(message) {
    switch (message.type) {
      case HOST_MESSAGE.CALL_UPDATE:
      case HOST_MESSAGE.CALL_STARTED:
      case HOST_MESSAGE.HANGUP_REQUESTED:
        onCall(message.call);
        break;
      case HOST_MESSAGE.AUTH_REQUIRED:
        state.loggedIn = false;
        state.problem = { kind: 'auth', message: message.message };
        phone.signOut();
        publish();
        break;
      case HOST_MESSAGE.BACKEND_UNREACHABLE:
        state.backend = BACKEND_STATE.UNREACHABLE;
        state.problem = { kind: 'backend', message: message.message };
        publish();
        break;
      case HOST_MESSAGE.BACKEND_REACHABLE:
        state.backend = BACKEND_STATE.REACHABLE;
        if (state.problem && state.problem.kind === 'backend') state.problem = null;
        refresh();
        break;
      default:
        break;
    }
  }

  return { refresh, onHostMessage };
}
