import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ERROR_CODE, HOST_MESSAGE, REQUEST } from '../static/shared/protocol.js';
import { FROM_CONTENT, cleanContext, createClicks } from '../static/worker/clicks.js';
import { fakeRuntime } from './fakes.js';

function clicks(reply) {
  const runtime = fakeRuntime();
  const requests = [];
  const injected = [];
  const told = [];
  const listener = createClicks({
    phone: {
      click: async () => {
        told.push(['click', 'k1']);
        return 'k1';
      },
      clickResult: (click, callId) => told.push(['result', click, callId]),
    },
    runtime,
    scripting: {
      executeScript: async (details) => {
        injected.push(details);
      },
    },
    request: async (body) => {
      requests.push(body);
      return reply;
    },
  });
  const tab = { id: runtime.id, tab: { id: 7 }, frameId: 0 };
  const answer = (message, sender = tab) =>
    new Promise((resolve) => {
      const async = listener(message, sender, resolve);
      if (!async) resolve(undefined);
    });
  return { requests, injected, told, answer };
}

test('the context keeps only its known string fields', () => {
  assert.deepEqual(cleanContext({ deal_id: 'd1', contact_name: 5, extra: 'x', page_url: 'https://a/' }), {
    deal_id: 'd1',
    page_url: 'https://a/',
  });
  assert.deepEqual(cleanContext(null), {});
});

test('a click becomes a call.start request, told to the phone before and after', async () => {
  const { requests, told, answer } = clicks({ type: HOST_MESSAGE.CALL_STARTED, call: { id: 'c1' } });
  const reply = await answer({ type: FROM_CONTENT.CALL, number: '(11) 98765-4321', context: { deal_id: 'd1' } });
  assert.deepEqual(reply, { ok: true });
  assert.deepEqual(requests, [{ type: REQUEST.CALL_START, number: '(11) 98765-4321', context: { deal_id: 'd1' } }]);
  assert.deepEqual(told, [
    ['click', 'k1'],
    ['result', 'k1', 'c1'],
  ]);
});

test('a refused call answers with the host\'s code and message', async () => {
  const { told, answer } = clicks({
    type: HOST_MESSAGE.ERROR,
    error: { code: ERROR_CODE.AGENT_BUSY, message: 'Você já está em uma ligação.' },
  });
  assert.deepEqual(await answer({ type: FROM_CONTENT.CALL, number: 5 }), {
    ok: false,
    code: ERROR_CODE.AGENT_BUSY,
    message: 'Você já está em uma ligação.',
  });
  assert.deepEqual(told[1], ['result', 'k1', undefined]);
});

test('the JS fallback is injected into the asking frame', async () => {
  const { injected, answer } = clicks();
  assert.deepEqual(await answer({ type: FROM_CONTENT.FALLBACK }), { ok: true });
  assert.deepEqual(injected[0].target, { tabId: 7, frameIds: [0] });
});

test('messages from elsewhere are ignored', async () => {
  const { requests, answer } = clicks();
  assert.equal(await answer({ type: FROM_CONTENT.CALL }, { id: 'other', tab: { id: 1 } }), undefined);
  assert.equal(await answer({ type: FROM_CONTENT.CALL }, { id: 'extension-id' }), undefined);
  assert.equal(await answer({ type: 'call.transfer' }), undefined);
  assert.equal(requests.length, 0);
});
