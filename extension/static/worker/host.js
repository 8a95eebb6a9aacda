// The native messaging port to disca-host: opened on demand, reopened with
// backoff when it drops; requests get an id and a promise of the reply with
// that id, or an error reply when the host does not answer in time or the
// port closes first. Every other message goes to `onMessage`.
import { ERROR_CODE, HOST_MESSAGE, HOST_NAME, VERSION } from '../shared/protocol.js';
import { HOST_STATE } from '../shared/popup-port.js';
import { retryDelay } from './backoff.js';

/** How long the host has to answer a request. */
export const REQUEST_TIMEOUT_MS = 20_000;

/** An error reply made by the worker itself. */
export function failure(code, message) {
  return { type: HOST_MESSAGE.ERROR, error: { code, message } };
}

/** Whether the browser's reason for a closed port means no host is installed. */
function notInstalled(reason) {
  return /not found/i.test(reason || '');
}

function hostDown(reason) {
  return notInstalled(reason)
    ? failure(ERROR_CODE.HOST_NOT_INSTALLED, 'O disca-host não está instalado neste computador.')
    : failure(ERROR_CODE.HOST_UNAVAILABLE, 'O disca-host parou; tentando de novo.');
}

/**
 * @param {object} options
 * @param {typeof chrome.runtime} options.runtime
 * @param {(message: import('../shared/protocol.js').HostMessage) => void} options.onMessage
 * @param {() => void} options.onConnect the port just opened
 * @param {(hostState: string, reason: string | null) => void} options.onDown the port closed
 * @param {number} [options.timeoutMs]
 * @param {() => number} [options.random]
 */
export function createHost({ runtime, onMessage, onConnect, onDown, timeoutMs = REQUEST_TIMEOUT_MS, random = Math.random }) {
  let port = null;
  let nextId = 1;
  /** Request id → resolve. */
  const pending = new Map();
  let failures = 0;
  let retryTimer = null;
  let lastReason = null;

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (port) return;
    port = runtime.connectNative(HOST_NAME);
    port.onMessage.addListener(receive);
    port.onDisconnect.addListener(() => {
      lastReason = (runtime.lastError && runtime.lastError.message) || null;
      port = null;
      for (const resolve of pending.values()) resolve(hostDown(lastReason));
      pending.clear();
      onDown(notInstalled(lastReason) ? HOST_STATE.NOT_INSTALLED : HOST_STATE.FAILED, lastReason);
      retryTimer = setTimeout(connect, retryDelay(failures, random));
      failures += 1;
    });
    onConnect();
  }

  function receive(message) {
    if (message && message.id !== undefined && message.id !== null && pending.has(message.id)) {
      const resolve = pending.get(message.id);
      pending.delete(message.id);
      resolve(message);
    }
    onMessage(message);
  }

  /**
   * Sends a request (without `v` and `id`) and waits for its reply.
   * @param {import('../shared/protocol.js').RequestBody} body
   * @returns {Promise<import('../shared/protocol.js').HostMessage>}
   */
  function request(body) {
    if (!port) connect();
    return new Promise((resolve) => {
      if (!port) {
        resolve(hostDown(lastReason));
        return;
      }
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(failure(ERROR_CODE.HOST_TIMEOUT, 'O disca-host não respondeu a tempo.'));
      }, timeoutMs);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      try {
        port.postMessage({ v: VERSION, id, ...body });
      } catch {
        // The port died between the check and the send.
        pending.delete(id);
        clearTimeout(timer);
        resolve(hostDown(lastReason));
      }
    });
  }

  return {
    connect,
    request,
    /** Whether a port is open. */
    get connected() {
      return port !== null;
    },
    /** The host answered: the next failure waits the shortest time again. */
    succeeded() {
      failures = 0;
    },
  };
}
