import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ERROR_CODE, HOST_MESSAGE, REQUEST } from '../static/shared/protocol.js';
import { createSignIn, initialSignIn } from '../static/worker/sign-in.js';
import { settle } from './fakes.js';

const AUTHORIZE_URL = 'https://disca.example.com/oauth/authorize?client_id=disca-host';

/** A host answering each request type from `replies`. */
function fakeHost(replies) {
  return {
    requests: [],
    async request(body) {
      this.requests.push(body);
      return replies[body.type](body);
    },
  };
}

/** chrome.tabs: the tabs created (ids from 40) and removed. */
function fakeTabs() {
  return {
    created: [],
    removed: [],
    async create(details) {
      this.created.push(details);
      return { id: 40 + this.created.length - 1, ...details };
    },
    remove(tabId) {
      this.removed.push(tabId);
      return Promise.resolve();
    },
  };
}

/** chrome.storage.managed holding `values`. */
function fakeManaged(values) {
  return {
    asked: [],
    async get(key) {
      this.asked.push(key);
      return key in values ? { [key]: values[key] } : {};
    },
  };
}

function signIn(replies = {}, { managed } = {}) {
  const state = { signIn: initialSignIn(), presetBackendUrl: null };
  const host = fakeHost(replies);
  const tabs = fakeTabs();
  const seen = { published: 0, refreshed: 0 };
  const s = createSignIn({
    state,
    host,
    tabs,
    managed,
    publish: () => {
      seen.published += 1;
    },
    refresh: async () => {
      seen.refreshed += 1;
    },
  });
  return { state, host, tabs, seen, signIn: s };
}

const started = () => ({ type: HOST_MESSAGE.SIGN_IN_STARTED, authorize_url: AUTHORIZE_URL });

test('"Entrar" asks the host to start and opens its sign-in page in a tab', async () => {
  const { state, host, tabs, seen, signIn: s } = signIn({ [REQUEST.SIGN_IN]: started });
  await s.start('https://disca.example.com');
  assert.deepEqual(host.requests, [{ type: REQUEST.SIGN_IN, backend_url: 'https://disca.example.com' }]);
  assert.deepEqual(tabs.created, [{ url: AUTHORIZE_URL }]);
  assert.equal(state.signIn.pending, true);
  assert.equal(state.signIn.tabId, 40);
  assert.equal(state.signIn.error, null);
  assert.ok(seen.published >= 1);
});

test('the address IT preset wins over the typed one', async () => {
  const managed = fakeManaged({ backend_url: 'https://disca.acme.com.br' });
  const { state, host, seen, signIn: s } = signIn({ [REQUEST.SIGN_IN]: started }, { managed });
  await s.loadPreset();
  assert.deepEqual(managed.asked, ['backend_url']);
  assert.equal(state.presetBackendUrl, 'https://disca.acme.com.br');
  assert.equal(seen.published, 1);

  await s.start('https://typed.example.com');
  assert.deepEqual(host.requests, [{ type: REQUEST.SIGN_IN, backend_url: 'https://disca.acme.com.br' }]);
});

test('without an address the host asks for one and no tab is opened', async () => {
  const message = 'Informe o endereço do Disca.';
  const { state, host, tabs, signIn: s } = signIn({
    [REQUEST.SIGN_IN]: () => ({
      type: HOST_MESSAGE.ERROR,
      error: { code: ERROR_CODE.BACKEND_URL_REQUIRED, message },
    }),
  });
  await s.start('');
  assert.deepEqual(host.requests, [{ type: REQUEST.SIGN_IN }]);
  assert.equal(state.signIn.pending, false);
  assert.equal(state.signIn.error, message);
  assert.equal(state.signIn.askAddress, true);
  assert.deepEqual(tabs.created, []);
});

test('signed in: the state resets, the sign-in tab closes and the status is re-read', async () => {
  const { state, tabs, seen, signIn: s } = signIn({ [REQUEST.SIGN_IN]: started });
  await s.start('https://disca.example.com');
  const tabId = state.signIn.tabId;

  assert.equal(s.onHostMessage({ type: HOST_MESSAGE.SIGNED_IN, user: { name: 'Ana' } }), true);
  await settle();
  assert.equal(state.signIn.pending, false);
  assert.equal(state.signIn.error, null);
  assert.equal(state.signIn.tabId, null);
  assert.deepEqual(tabs.removed, [tabId]);
  assert.equal(seen.refreshed, 1);
});

test('a failed sign-in shows the host\'s message; other messages are not its own', async () => {
  const { state, seen, signIn: s } = signIn();
  const before = seen.published;
  assert.equal(s.onHostMessage({ type: HOST_MESSAGE.SIGN_IN_FAILED, message: 'Acesso negado.' }), true);
  assert.equal(state.signIn.error, 'Acesso negado.');
  assert.equal(state.signIn.pending, false);
  assert.equal(seen.published, before + 1);

  assert.equal(s.onHostMessage({ type: HOST_MESSAGE.STATUS, status: {} }), false);
  assert.equal(state.signIn.error, 'Acesso negado.');
  assert.equal(seen.refreshed, 0);
});

test('"Sair" asks the host to sign out and re-reads the status', async () => {
  const { state, host, seen, signIn: s } = signIn({
    [REQUEST.SIGN_OUT]: () => ({ type: HOST_MESSAGE.SIGNED_OUT }),
  });
  await s.signOut();
  assert.deepEqual(host.requests, [{ type: REQUEST.SIGN_OUT }]);
  assert.equal(seen.refreshed, 1);
  assert.equal(state.signIn.error, null);
});

test('a refused sign-out shows the host\'s message', async () => {
  const { state, seen, signIn: s } = signIn({
    [REQUEST.SIGN_OUT]: () => ({
      type: HOST_MESSAGE.ERROR,
      error: { code: ERROR_CODE.HOST_UNAVAILABLE, message: 'O Disca não está rodando.' },
    }),
  });
  await s.signOut();
  assert.equal(state.signIn.error, 'O Disca não está rodando.');
  assert.equal(seen.refreshed, 1);
});

test('no policy store, or one that fails, presets nothing', async () => {
  const none = signIn();
  await none.signIn.loadPreset();
  assert.equal(none.state.presetBackendUrl, null);
  assert.equal(none.seen.published, 0);

  const failing = signIn(
    {},
    {
      managed: {
        get: () => Promise.reject(new Error('Managed storage is not supported')),
      },
    },
  );
  await failing.signIn.loadPreset();
  assert.equal(failing.state.presetBackendUrl, null);
  assert.equal(failing.seen.published, 0);
});
