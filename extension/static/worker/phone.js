// The browser phone's side of the worker: the offscreen document that runs
// the softphone (created once, creation serialised and awaited until the
// document answers), its credentials (asked of disca-host when signed in,
// kept in memory only, asked again with backoff when the PBX refuses them),
// the click bookkeeping that lets the softphone answer Disca's own calls,
// the "incoming call" notification (Atender / Recusar), and the phone's
// state and last call's audio figures in the popup's state.
import {
  HOST_MESSAGE,
  MICROPHONE,
  PHONE_KIND,
  REGISTRATION,
  REQUEST,
  SOFTPHONE_MESSAGE,
  SOFTPHONE_TARGET,
  WORKER_TARGET,
} from '../shared/protocol.js';
import { DEVICE_DEFAULTS } from '../shared/page-messages.js';
import { retryDelay } from './backoff.js';

/** The offscreen document. */
export const OFFSCREEN_PATH = 'offscreen/offscreen.html';
/** The first-run page that asks for the microphone. */
export const WELCOME_PATH = 'welcome/welcome.html';
/** How long a new document has to answer before its creation failed. */
export const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 50;
/** The notification of a call that rings for the user. */
export const RINGING_NOTIFICATION = 'disca-phone-ringing';
/** Its buttons, in order. */
export const RINGING_BUTTONS = Object.freeze(['Atender', 'Recusar']);

/** `state.phone` before anything is known. */
export function initialPhone() {
  return { kind: null, state: null, stats: null };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @param {object} options
 * @param {typeof chrome.runtime} options.runtime
 * @param {typeof chrome.offscreen} options.offscreen
 * @param {typeof chrome.notifications} options.notifications
 * @param {typeof chrome.storage.local} options.storage
 * @param {typeof chrome.tabs} options.tabs
 * @param {(body: object) => Promise<object>} options.request the host's
 * @param {{phone: object}} options.state the popup's state, changed in place
 * @param {() => void} options.publish the state changed
 * @param {() => string} [options.newId]
 * @param {() => number} [options.random]
 */
export function createPhone({
  runtime,
  offscreen,
  notifications,
  storage,
  tabs,
  request,
  state,
  publish,
  newId = () => crypto.randomUUID(),
  random = Math.random,
}) {
  /** The `PhoneConfig` of a browser phone while signed in: memory only. */
  let config = null;
  /** Document creations and closings, one after the other. */
  let documents = Promise.resolve();
  let failures = 0;
  let retryTimer = null;
  let welcomed = false;
  /** Signed in to Disca: the phone is wanted. */
  let signedIn = false;
  /** A `phone.config` request is on its way. */
  let configuring = false;

  function send(message) {
    return runtime.sendMessage({ target: SOFTPHONE_TARGET, ...message });
  }

  /** Sends and forgets: a document that is gone has nothing to do. */
  function tell(message) {
    send(message).catch(() => {});
  }

  async function hasDocument() {
    return offscreen.hasDocument();
  }

  /** Waits until the document answers (it does once its script runs). */
  async function waitReady() {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        const reply = await send({ type: SOFTPHONE_MESSAGE.STATE_GET });
        if (reply && reply.state) {
          onState(reply.state);
          return;
        }
      } catch {
        // "Receiving end does not exist": still loading.
      }
      if (Date.now() >= deadline) throw new Error('the softphone document did not answer');
      await sleep(READY_POLL_MS);
    }
  }

  /** Runs `job` after every earlier document job; a failure does not stop the next. */
  function serialised(job) {
    documents = documents.catch(() => {}).then(job);
    return documents;
  }

  function ensureDocument() {
    return serialised(async () => {
      if (!(await hasDocument())) {
        await offscreen.createDocument({
          url: OFFSCREEN_PATH,
          reasons: ['USER_MEDIA', 'WEB_RTC', 'AUDIO_PLAYBACK'],
          justification: 'O telefone do Disca no navegador: microfone, WebRTC e o som da ligação.',
        });
      }
      await waitReady();
    });
  }

  /** Registers the softphone with `config`. */
  async function start() {
    await ensureDocument();
    const devices = await storage.get(DEVICE_DEFAULTS);
    await send({ type: SOFTPHONE_MESSAGE.DEVICES, ...DEVICE_DEFAULTS, ...devices });
    const reply = await send({ type: SOFTPHONE_MESSAGE.START, phone: config });
    if (reply && reply.state) onState(reply.state);
  }

  function retryLater() {
    clearTimeout(retryTimer);
    if (!signedIn) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      configure();
    }, retryDelay(failures, random));
    failures += 1;
  }

  /**
   * Uses the phone the backend gave (`PhoneConfig`): a browser phone
   * registers, any other kind stops the softphone.
   */
  async function use(phone) {
    state.phone.kind = (phone && phone.kind) || null;
    if (!phone || phone.kind !== PHONE_KIND.BROWSER || !phone.browser) {
      await stop();
      return;
    }
    config = phone;
    publish();
    await start();
  }

  /** Asks disca-host for the phone (signed in), then uses it. */
  async function configure() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (!signedIn) return;
    configuring = true;
    const reply = await request({ type: REQUEST.PHONE_CONFIG });
    configuring = false;
    if (reply.type !== HOST_MESSAGE.PHONE_CONFIG) {
      retryLater();
      return;
    }
    try {
      await use(reply.phone);
    } catch {
      retryLater();
    }
  }

  /** Signed out (or not a browser phone): unregister and forget the credentials. */
  async function stop() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const had = config !== null;
    config = null;
    if (had || (await hasDocument())) {
      await send({ type: SOFTPHONE_MESSAGE.STOP }).catch(() => {});
    }
    state.phone.state = null;
    publish();
  }

  /** A `phone.state` from the softphone. */
  function onState(next) {
    const before = state.phone.state;
    state.phone.state = next;
    if (next.registration === REGISTRATION.REGISTERED) failures = 0;
    if (next.registration === REGISTRATION.REFUSED && config && !(before && before.registration === REGISTRATION.REFUSED)) {
      // The credentials may have been rotated: ask the backend again.
      retryLater();
    }
    const ringing = Boolean(next.call && next.call.ringing);
    const wasRinging = Boolean(before && before.call && before.call.ringing);
    if (ringing && !wasRinging) {
      notifications.create(RINGING_NOTIFICATION, {
        type: 'basic',
        iconUrl: runtime.getURL('icons/disca-128.png'),
        title: 'Chamada recebida',
        message: next.call.from ? `De ${next.call.from}` : 'Uma chamada que não foi pedida pelo Disca.',
        buttons: RINGING_BUTTONS.map((title) => ({ title })),
        requireInteraction: true,
      });
    } else if (!ringing && wasRinging) {
      notifications.clear(RINGING_NOTIFICATION);
    }
    if (config && !welcomed && next.microphone === MICROPHONE.PROMPT) {
      welcomed = true;
      tabs.create({ url: runtime.getURL(WELCOME_PATH) });
    }
    publish();
  }

  /** A `chrome.runtime.onMessage` listener for the softphone's messages. */
  function listener(message, sender) {
    if (!message || message.target !== WORKER_TARGET || sender.id !== runtime.id) return false;
    if (!(sender.url || '').startsWith(runtime.getURL(OFFSCREEN_PATH))) return false;
    if (message.type === SOFTPHONE_MESSAGE.STATE && message.state) onState(message.state);
    else if (message.type === SOFTPHONE_MESSAGE.STATS && message.stats) {
      state.phone.stats = message.stats;
      publish();
    }
    return false;
  }

  /** The microphone was just allowed: a document that had been refused it
   *  keeps failing, so it is made again. */
  async function microphoneGranted() {
    const phone = state.phone.state;
    if (!config || (phone && phone.microphone === MICROPHONE.GRANTED)) return;
    await serialised(async () => {
      if (await hasDocument()) await offscreen.closeDocument();
    });
    await start();
  }

  /**
   * A click is about to go to the host: tells the softphone, and returns
   * the click's id for `clickResult` (null without a browser phone).
   */
  async function click() {
    if (!config) return null;
    const id = newId();
    await send({ type: SOFTPHONE_MESSAGE.CLICK, click: id }).catch(() => {});
    return id;
  }

  /** The host's answer to click `id`: the call's id, or none (failed). */
  function clickResult(id, callId) {
    if (!id) return;
    tell({ type: SOFTPHONE_MESSAGE.CLICK_RESULT, click: id, ...(callId ? { call_id: callId } : {}) });
  }

  /** A button of the ringing notification. */
  function onNotificationButton(notificationId, index) {
    if (notificationId !== RINGING_NOTIFICATION) return;
    tell({ type: index === 0 ? SOFTPHONE_MESSAGE.ANSWER : SOFTPHONE_MESSAGE.HANGUP });
    notifications.clear(RINGING_NOTIFICATION);
  }

  /** The chosen devices changed (chrome.storage.local). */
  async function devicesChanged() {
    if (!config) return;
    const devices = await storage.get(DEVICE_DEFAULTS);
    tell({ type: SOFTPHONE_MESSAGE.DEVICES, ...DEVICE_DEFAULTS, ...devices });
  }

  return {
    /** The host says someone is signed in: set the phone up, once. */
    signIn() {
      const first = !signedIn;
      signedIn = true;
      if (first || (!config && !retryTimer && !configuring)) configure();
    },
    /** The host says nobody is signed in. */
    signOut() {
      signedIn = false;
      stop();
    },
    use,
    listener,
    microphoneGranted,
    click,
    clickResult,
    onNotificationButton,
    devicesChanged,
    answer: () => tell({ type: SOFTPHONE_MESSAGE.ANSWER }),
    hangup: () => tell({ type: SOFTPHONE_MESSAGE.HANGUP }),
    mute: (muted) => tell({ type: SOFTPHONE_MESSAGE.MUTE, muted }),
    dtmf: (digits) => tell({ type: SOFTPHONE_MESSAGE.DTMF, digits }),
  };
}
