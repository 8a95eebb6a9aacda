// The messages between the service worker and the popup (extension-internal:
// disca-host never sees them), on a port named POPUP_PORT.

export const POPUP_PORT = 'popup';

/** Worker → popup. */
export const TO_POPUP = Object.freeze({
  /** `{state}`: everything the popup shows, sent whole on every change. */
  STATE: 'state',
  /** `{message}`: a command failed. */
  ERROR: 'error',
});

/** Popup → worker. */
export const FROM_POPUP = Object.freeze({
  /** Hang up the live call (and the browser phone's call, with a BYE). */
  HANGUP: 'hangup',
  /** Answer the browser phone's ringing call. */
  ANSWER: 'answer',
  /** `{muted}`: mute or unmute the browser phone's microphone. */
  MUTE: 'mute',
  /** `{digits}`: send keypad digits (RFC 4733) in the browser phone's call. */
  DTMF: 'dtmf',
  /** Try the host again now. */
  RETRY: 'retry',
  /** `{backendUrl}`: sign in (to that address, or the one known). */
  SIGN_IN: 'sign_in',
  /** Sign out of this computer. */
  SIGN_OUT: 'sign_out',
  /** `{callId, disposition, note, followUpAt}`: the after-call form. */
  REPORT: 'report',
  /** "Agora não": close the after-call form. */
  REPORT_DISMISS: 'report_dismiss',
  /** `{number}`: call another phone of the deal, one the popup offered. */
  CALL_OTHER: 'call_other',
});

/** How the worker's port to disca-host stands (`state.host`). */
export const HOST_STATE = Object.freeze({
  CONNECTING: 'connecting',
  READY: 'ready',
  NOT_INSTALLED: 'not_installed',
  FAILED: 'failed',
});
