// Messages the extension's own pages (first-run page, options) send the
// service worker with `chrome.runtime.sendMessage` (extension-internal:
// disca-host never sees them).

export const FROM_PAGE = Object.freeze({
  /** The first-run page obtained the microphone permission. */
  MICROPHONE_GRANTED: 'page.microphone.granted',
});

/** Where the chosen microphone and speaker are kept (chrome.storage.local):
 *  device ids, '' for the system's default. */
export const DEVICE_DEFAULTS = Object.freeze({ microphone: '', speaker: '' });
