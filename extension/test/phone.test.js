import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ERROR_CODE,
  HOST_MESSAGE,
  MICROPHONE,
  PHONE_KIND,
  REGISTRATION,
  REQUEST,
  SOFTPHONE_MESSAGE,
  SOFTPHONE_TARGET,
  WORKER_TARGET,
} from '../static/shared/protocol.js';
import { OFFSCREEN_PATH, RINGING_NOTIFICATION, createPhone, initialPhone } from '../static/worker/phone.js';
import { fakeRuntime, settle } from './fakes.js';

const CONFIG = {
  kind: PHONE_KIND.BROWSER,
  endpoint: 'acme-1001',
  browser: { ws_url: 'wss://pbx/ws', aor: 'sip:acme-1001@pbx', username: 'acme-1001', password: 'secret', ice_servers: [] },
};
const READY = { registration: REGISTRATION.REGISTERED, microphone: MICROPHONE.GRANTED, call: null };

/** A worker's phone with a fake browser: an offscreen document that answers
 *  after `loadingReplies` failed sends, and a host answering `phone.config`. */
function phone({ config = CONFIG, loadingReplies = 2, hostReply } = {}) {
  const runtime = fakeRuntime();
  const sent = [];
  const created = [];
  const notes = { created: [], cleared: [] };
  const tabs = [];
  const requests = [];
  let documentOpen = false;
  let loading = 0;
  runtime.sendMessage = async (message) => {
    sent.push(message);
    if (!documentOpen || loading > 0) {
      loading -= 1;
      throw new Error('Could not establish connection. Receiving end does not exist.');
    }
    return { type: SOFTPHONE_MESSAGE.STATE, state: READY };
  };
  const offscreen = {
    hasDocument: async () => documentOpen,
    async createDocument(details) {
      if (documentOpen) throw new Error('Only a single offscreen document may be created.');
      created.push(details);
      await settle(5);
      documentOpen = true;
      loading = loadingReplies;
    },
    async closeDocument() {
      documentOpen = false;
    },
  };
  const state = { phone: initialPhone() };
  let published = 0;
  const p = createPhone({
    runtime,
    offscreen,
    notifications: {
      create: (id, options) => notes.created.push([id, options]),
      clear: (id) => notes.cleared.push(id),
    },
    storage: { get: async (defaults) => ({ ...defaults, microphone: 'mic-2' }) },
    tabs: { create: (details) => tabs.push(details.url) },
    request: async (body) => {
      requests.push(body);
      return hostReply || { type: HOST_MESSAGE.PHONE_CONFIG, id: 1, phone: config };
    },
    state,
    publish: () => {
      published += 1;
    },
    newId: () => 'click-1',
    random: () => 0.5,
  });
  const fromDocument = (message) =>
    p.listener({ target: WORKER_TARGET, ...message }, { id: runtime.id, url: runtime.getURL(OFFSCREEN_PATH) });
  return { p, runtime, sent, created, notes, tabs, requests, state, fromDocument, published: () => published };
}

const types = (sent) => sent.map((m) => m.type);

test('signing in asks the host for the phone, makes one document and registers it', async () => {
  const { p, sent, created, requests, state } = phone();
  p.signIn();
  p.signIn();
  await settle(150);
  assert.deepEqual(requests, [{ type: REQUEST.PHONE_CONFIG }]);
  assert.equal(created.length, 1);
  assert.deepEqual(created[0].reasons, ['USER_MEDIA', 'WEB_RTC', 'AUDIO_PLAYBACK']);
  assert.equal(created[0].url, OFFSCREEN_PATH);
  // Nothing but state requests until the document answered.
  const first = types(sent).findIndex((t) => t !== SOFTPHONE_MESSAGE.STATE_GET);
  assert.ok(first >= 3, `${types(sent)}`);
  assert.deepEqual(types(sent).slice(first), [SOFTPHONE_MESSAGE.DEVICES, SOFTPHONE_MESSAGE.START]);
  assert.ok(sent.every((m) => m.target === SOFTPHONE_TARGET));
  assert.equal(sent[first].microphone, 'mic-2');
  assert.deepEqual(sent[first + 1].phone, CONFIG);
  assert.equal(state.phone.kind, PHONE_KIND.BROWSER);
  assert.deepEqual(state.phone.state, READY);
});

test('overlapping starts create the document once', async () => {
  const { p, created } = phone();
  await Promise.all([p.use(CONFIG), p.use(CONFIG), p.use(CONFIG)]);
  assert.equal(created.length, 1);
});

test('a desk phone makes no document; signing out stops the softphone', async () => {
  const desk = phone({ config: { kind: PHONE_KIND.DESK, endpoint: 'acme-1002' } });
  desk.p.signIn();
  await settle(50);
  assert.equal(desk.created.length, 0);
  assert.equal(desk.state.phone.kind, PHONE_KIND.DESK);

  const { p, sent, state } = phone({ loadingReplies: 0 });
  await p.use(CONFIG);
  p.signOut();
  await settle(10);
  assert.equal(sent.at(-1).type, SOFTPHONE_MESSAGE.STOP);
  assert.equal(state.phone.state, null);
});

test('a host error is retried with backoff while signed in', async () => {
  const { p, requests } = phone({ hostReply: { type: HOST_MESSAGE.ERROR, error: { code: ERROR_CODE.BACKEND_UNREACHABLE } } });
  p.signIn();
  await settle(10);
  assert.equal(requests.length, 1);
  p.signOut();
  await settle(1100);
  assert.equal(requests.length, 1, 'no retry once signed out');
});

test('clicks are told to the softphone before and after the host', async () => {
  const { p, sent } = phone({ loadingReplies: 0 });
  assert.equal(await p.click(), null, 'no browser phone, no click id');
  await p.use(CONFIG);
  const click = await p.click();
  assert.equal(click, 'click-1');
  p.clickResult(click, 'call-9');
  p.clickResult(click, undefined);
  assert.deepEqual(sent.slice(-3), [
    { target: SOFTPHONE_TARGET, type: SOFTPHONE_MESSAGE.CLICK, click: 'click-1' },
    { target: SOFTPHONE_TARGET, type: SOFTPHONE_MESSAGE.CLICK_RESULT, click: 'click-1', call_id: 'call-9' },
    { target: SOFTPHONE_TARGET, type: SOFTPHONE_MESSAGE.CLICK_RESULT, click: 'click-1' },
  ]);
});

test('a call nobody asked for rings with Atender / Recusar', async () => {
  const { p, sent, notes, fromDocument } = phone({ loadingReplies: 0 });
  await p.use(CONFIG);
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, call: { ringing: true, muted: false, from: '1001' } } });
  assert.equal(notes.created.length, 1);
  const [id, options] = notes.created[0];
  assert.equal(id, RINGING_NOTIFICATION);
  assert.deepEqual(options.buttons, [{ title: 'Atender' }, { title: 'Recusar' }]);
  p.onNotificationButton(RINGING_NOTIFICATION, 0);
  p.onNotificationButton(RINGING_NOTIFICATION, 1);
  p.onNotificationButton('other', 0);
  await settle();
  assert.deepEqual(types(sent).slice(-2), [SOFTPHONE_MESSAGE.ANSWER, SOFTPHONE_MESSAGE.HANGUP]);
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, call: { ringing: false, muted: false } } });
  assert.ok(notes.cleared.includes(RINGING_NOTIFICATION));
});

test('stats are kept; messages from elsewhere are ignored', async () => {
  const { p, runtime, state, fromDocument } = phone();
  const stats = { call_id: 'c', packets_received: 5, packets_sent: 4, inbound_level: 0.1, outbound_level: 0.2 };
  fromDocument({ type: SOFTPHONE_MESSAGE.STATS, stats });
  assert.deepEqual(state.phone.stats, stats);
  p.listener({ target: WORKER_TARGET, type: SOFTPHONE_MESSAGE.STATS, stats: {} }, { id: runtime.id, url: 'https://crm/', tab: {} });
  p.listener({ target: WORKER_TARGET, type: SOFTPHONE_MESSAGE.STATS, stats: {} }, { id: 'other', url: runtime.getURL(OFFSCREEN_PATH) });
  assert.deepEqual(state.phone.stats, stats);
});

test('a refused registration asks the host again; a prompt opens the first-run page once', async () => {
  const { p, requests, tabs, fromDocument } = phone({ loadingReplies: 0 });
  p.signIn();
  await settle(20);
  assert.equal(requests.length, 1);
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, registration: REGISTRATION.REFUSED } });
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, registration: REGISTRATION.REFUSED } });
  await settle(1100);
  assert.equal(requests.length, 2);
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, microphone: MICROPHONE.PROMPT } });
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, microphone: MICROPHONE.PROMPT } });
  assert.deepEqual(tabs, ['chrome-extension://extension-id/welcome/welcome.html']);
  p.signOut();
});

test('a microphone granted after a refusal makes the document again', async () => {
  const { p, created, fromDocument } = phone({ loadingReplies: 0 });
  await p.use(CONFIG);
  fromDocument({ type: SOFTPHONE_MESSAGE.STATE, state: { ...READY, microphone: MICROPHONE.DENIED } });
  await p.microphoneGranted();
  assert.equal(created.length, 2);
  await p.microphoneGranted();
  assert.equal(created.length, 2, 'granted already: nothing to do');
});
