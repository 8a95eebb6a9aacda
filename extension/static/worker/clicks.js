// Messages from the content scripts on CRM pages: a click on a number
// (placed as a `call.start` request to the host, with the browser phone told
// before and after, so that it answers this call's INVITE by itself) and the
// JS fallback for pages whose Content-Security-Policy forbids compiling the
// wasm.
import { CALL_CONTEXT_FIELDS, CONTENT_MESSAGE, HOST_MESSAGE, REQUEST } from '../shared/protocol.js';

/** Content script → worker (content scripts, which cannot import
 *  modules, read the same names from the generated `content/messages.js`). */
export const FROM_CONTENT = Object.freeze({
  CALL: CONTENT_MESSAGE.CALL_START,
  FALLBACK: CONTENT_MESSAGE.FALLBACK,
});

/** The JS fallback's script. */
const FALLBACK_SCRIPT = 'content/disca_content_asm.js';

/** Only the context's known fields, and only strings. */
export function cleanContext(context) {
  const clean = {};
  if (context && typeof context === 'object') {
    for (const key of CALL_CONTEXT_FIELDS) {
      if (typeof context[key] === 'string') clean[key] = context[key];
    }
  }
  return clean;
}

/**
 * Places a call to `number` with `context`, as a click does: the browser
 * phone is told before and after, so that it answers this call's INVITE by
 * itself. Resolves to the host's reply.
 * @param {(body: object) => Promise<object>} request the host's
 * @param {{click: () => Promise<string | null>, clickResult: (click: string | null, callId?: string) => void}} phone
 */
export function createCaller(request, phone) {
  return async (number, context) => {
    const click = await phone.click();
    const reply = await request({ type: REQUEST.CALL_START, number, context: cleanContext(context) });
    const started = reply.type === HOST_MESSAGE.CALL_STARTED;
    phone.clickResult(click, started ? reply.call.id : undefined);
    return reply;
  };
}

/**
 * A `chrome.runtime.onMessage` listener.
 * @param {object} options
 * @param {typeof chrome.runtime} options.runtime
 * @param {typeof chrome.scripting} options.scripting
 * @param {(body: object) => Promise<object>} options.request the host's
 * @param {{click: () => Promise<string | null>, clickResult: (click: string | null, callId?: string) => void}} options.phone
 */
export function createClicks({ runtime, scripting, request, phone }) {
  const place = createCaller(request, phone);
  return (message, sender, respond) => {
    if (sender.id !== runtime.id || !sender.tab || !message) return false;
    if (message.type === FROM_CONTENT.FALLBACK) {
      scripting
        .executeScript({ target: { tabId: sender.tab.id, frameIds: [sender.frameId] }, files: [FALLBACK_SCRIPT] })
        .then(() => respond({ ok: true }))
        .catch((error) => respond({ ok: false, message: String(error) }));
      return true;
    }
    if (message.type !== FROM_CONTENT.CALL) return false;
    const number = typeof message.number === 'string' ? message.number : '';
    place(number, message.context)
      .then((reply) => {
        if (reply.type === HOST_MESSAGE.CALL_STARTED) respond({ ok: true });
        else respond({ ok: false, code: reply.error.code, message: reply.error.message });
      });
    return true;
  };
}
