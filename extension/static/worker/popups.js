// The popup's side of the worker: a port per open popup (only the
// extension's own popup page is accepted), the state pushed whole on every
// change, and the popup's commands passed on.
import { FROM_POPUP, POPUP_PORT, TO_POPUP } from '../shared/popup-port.js';

/**
 * @param {object} options
 * @param {typeof chrome.runtime} options.runtime
 * @param {(command: object, reply: (message: object) => void) => void} options.onCommand
 */
export function createPopups({ runtime, onCommand }) {
  const ports = new Set();

  /** Takes a newly connected port if it is the popup's; `false` otherwise. */
  function accept(port) {
    const fromPopup = (port.sender.url || '').startsWith(runtime.getURL('popup/'));
    if (port.name !== POPUP_PORT || port.sender.id !== runtime.id || !fromPopup) return false;
    ports.add(port);
    port.onDisconnect.addListener(() => ports.delete(port));
    port.onMessage.addListener((message) => {
      if (!message || !Object.values(FROM_POPUP).includes(message.type)) return;
      onCommand(message, (text) => port.postMessage({ type: TO_POPUP.ERROR, message: text }));
    });
    return true;
  }

  /** Sends the state to every open popup (or only `port`). */
  function publish(state, port = null) {
    for (const popup of port ? [port] : ports) popup.postMessage({ type: TO_POPUP.STATE, state });
  }

  return { accept, publish };
}
