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
  HANGUP: 'hangup',
  /** Try the host again now. */
  RETRY: 'retry',
});

/** How the worker's port to disca-host stands (`state.host`). */
export const HOST_STATE = Object.freeze({
  CONNECTING: 'connecting',
  READY: 'ready',
  NOT_INSTALLED: 'not_installed',
  FAILED: 'failed',
});
