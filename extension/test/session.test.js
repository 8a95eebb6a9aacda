import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BACKEND_STATE, CALL_STATE, ERROR_CODE, HOST_MESSAGE, REQUEST } from '../static/shared/protocol.js';
import { HOST_STATE } from '../static/shared/popup-port.js';
import { createSession, initialState } from '../static/worker/session.js';

const call = (id, state) => ({ id, state, to: '+5511987654321' });

/** A host answering each request type from `replies`. */
function fakeHost(replies) {
  return {
    connected: true,
    requests: [],
    succeededCount: 0,
    async request(body) {
      this.requests.push(body);
      return replies[body.type](body);
    },
    succeeded() {
      this.succeededCount += 1;
    },
  };
}

function session(replies) {
  const state = initialState('ext');
  const host = fakeHost(replies);
  const seen = { published: 0, ended: [], phone: [] };
  const s = createSession({
    state,
    host,
    publish: () => {
      seen.published += 1;
    },
    ended: (c) => seen.ended.push(c.id),
    phone: { signIn: () => seen.phone.push('in'), signOut: () => seen.phone.push('out') },
  });
  return { state, host, seen, session: s };
}

const status = (extra = {}) => ({
  type: HOST_MESSAGE.STATUS,
  status: { logged_in: true, backend: BACKEND_STATE.REACHABLE, user: { name: 'Ana' }, ...extra },
});

test('a refresh reads the status and the recent calls', async () => {
  const { state, host, session: s } = session({
    [REQUEST.STATUS_GET]: () => status({ live_call: call('a', CALL_STATE.CONNECTED) }),
    [REQUEST.CALLS_RECENT]: () => ({ type: HOST_MESSAGE.RECENT_CALLS, calls: [call('a', CALL_STATE.CONNECTED)] }),
  });
  await s.refresh();
  assert.equal(state.host, HOST_STATE.READY);
  assert.equal(state.user.name, 'Ana');
  assert.equal(state.live.id, 'a');
  assert.equal(state.recent.length, 1);
  assert.equal(state.problem, null);
  assert.equal(host.succeededCount, 1);
  assert.deepEqual(host.requests[1], { type: REQUEST.CALLS_RECENT, limit: 10 });
});

test('a host that answers with an error is shown as failed, unless it is down', async () => {
  const { state, session: s } = session({
    [REQUEST.STATUS_GET]: () => ({
      type: HOST_MESSAGE.ERROR,
      error: { code: ERROR_CODE.UNSUPPORTED_VERSION, message: 'versão 1 não suportada' },
    }),
  });
  await s.refresh();
  assert.equal(state.host, HOST_STATE.FAILED);
  assert.equal(state.hostError, 'versão 1 não suportada');

  const down = session({
    [REQUEST.STATUS_GET]: () => ({ type: HOST_MESSAGE.ERROR, error: { code: ERROR_CODE.HOST_UNAVAILABLE, message: 'x' } }),
  });
  await down.session.refresh();
  assert.equal(down.state.host, HOST_STATE.CONNECTING);
});

test('not logged in is a problem to show', async () => {
  const { state, session: s } = session({
    [REQUEST.STATUS_GET]: () => status({ logged_in: false }),
    [REQUEST.CALLS_RECENT]: () => ({ type: HOST_MESSAGE.RECENT_CALLS, calls: [] }),
  });
  await s.refresh();
  assert.equal(state.problem.kind, 'auth');
});

test('events: calls, the end of the live call, auth and the backend', async () => {
  const { state, seen, session: s } = session({
    [REQUEST.STATUS_GET]: () => status(),
    [REQUEST.CALLS_RECENT]: () => ({ type: HOST_MESSAGE.RECENT_CALLS, calls: [] }),
  });
  s.onHostMessage({ type: HOST_MESSAGE.CALL_STARTED, call: call('a', CALL_STATE.QUEUED) });
  s.onHostMessage({ type: HOST_MESSAGE.CALL_UPDATE, call: call('a', CALL_STATE.CONNECTED) });
  assert.equal(state.live.state, CALL_STATE.CONNECTED);
  s.onHostMessage({ type: HOST_MESSAGE.CALL_UPDATE, call: call('a', CALL_STATE.ENDED) });
  assert.equal(state.live, null);
  assert.deepEqual(seen.ended, ['a']);

  s.onHostMessage({ type: HOST_MESSAGE.AUTH_REQUIRED, message: 'Faça login' });
  assert.equal(state.loggedIn, false);
  assert.deepEqual(state.problem, { kind: 'auth', message: 'Faça login' });
  s.onHostMessage({ type: HOST_MESSAGE.BACKEND_UNREACHABLE, message: 'sem rede' });
  assert.equal(state.backend, BACKEND_STATE.UNREACHABLE);
  assert.equal(state.problem.kind, 'backend');
  s.onHostMessage({ type: HOST_MESSAGE.BACKEND_REACHABLE });
  assert.equal(state.problem, null);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(state.host, HOST_STATE.READY);
});

test('a status slower than a call event does not undo it', async () => {
  let answer;
  const { state, session: s } = session({
    [REQUEST.STATUS_GET]: () => new Promise((resolve) => (answer = resolve)),
    [REQUEST.CALLS_RECENT]: () => ({ type: HOST_MESSAGE.RECENT_CALLS, calls: [] }),
  });
  const refreshing = s.refresh();
  s.onHostMessage({ type: HOST_MESSAGE.CALL_UPDATE, call: call('a', CALL_STATE.RINGING_AGENT) });
  answer(status());
  await refreshing;
  assert.equal(state.live.id, 'a');
  assert.equal(state.recent.length, 1);
});

test('the browser phone starts when signed in and stops on sign-out', async () => {
  let loggedIn = true;
  const { seen, session: s } = session({
    [REQUEST.STATUS_GET]: () => status({ logged_in: loggedIn }),
    [REQUEST.CALLS_RECENT]: () => ({ type: HOST_MESSAGE.RECENT_CALLS, calls: [] }),
  });
  await s.refresh();
  assert.deepEqual(seen.phone, ['in']);
  s.onHostMessage({ type: HOST_MESSAGE.AUTH_REQUIRED, message: 'Entre de novo.' });
  assert.deepEqual(seen.phone, ['in', 'out']);
  loggedIn = false;
  await s.refresh();
  assert.deepEqual(seen.phone, ['in', 'out', 'out']);
});
