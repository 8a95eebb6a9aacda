import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ERROR_CODE, HOST_MESSAGE, HOST_NAME, REQUEST, VERSION } from '../static/shared/protocol.js';
import { HOST_STATE } from '../static/shared/popup-port.js';
import { createHost } from '../static/worker/host.js';
import { fakeRuntime, settle } from './fakes.js';

function host(options = {}) {
  const runtime = fakeRuntime();
  const seen = { messages: [], down: [], connects: 0 };
  const port = createHost({
    runtime,
    onMessage: (message) => seen.messages.push(message),
    onConnect: () => {
      seen.connects += 1;
    },
    onDown: (state, reason) => seen.down.push([state, reason]),
    random: () => 0,
    ...options,
  });
  return { runtime, seen, port };
}

test('a request is sent with the version and an id, and gets the reply with that id', async () => {
  const { runtime, seen, port } = host();
  const reply = port.request({ type: REQUEST.STATUS_GET });
  const native = runtime.ports[0];
  assert.equal(native.name, HOST_NAME);
  assert.equal(seen.connects, 1);
  const sent = native.posted[0];
  assert.deepEqual(sent, { v: VERSION, id: sent.id, type: REQUEST.STATUS_GET });
  native.onMessage.emit({ v: 1, type: HOST_MESSAGE.STATUS, id: sent.id, status: {} });
  assert.equal((await reply).type, HOST_MESSAGE.STATUS);
  // Every message also goes to onMessage (events and replies alike).
  native.onMessage.emit({ v: 1, type: HOST_MESSAGE.BACKEND_REACHABLE });
  assert.deepEqual(
    seen.messages.map((m) => m.type),
    [HOST_MESSAGE.STATUS, HOST_MESSAGE.BACKEND_REACHABLE],
  );
  assert.ok(port.connected);
});

test('a request the host does not answer in time gets host_timeout', async () => {
  const { port } = host({ timeoutMs: 5 });
  const reply = await port.request({ type: REQUEST.STATUS_GET });
  assert.equal(reply.type, HOST_MESSAGE.ERROR);
  assert.equal(reply.error.code, ERROR_CODE.HOST_TIMEOUT);
});

test('a closed port fails pending requests and says whether the host is installed', async () => {
  const { runtime, seen, port } = host();
  const reply = port.request({ type: REQUEST.STATUS_GET });
  runtime.lastError = { message: 'Specified native messaging host not found.' };
  runtime.ports[0].onDisconnect.emit();
  assert.equal((await reply).error.code, ERROR_CODE.HOST_NOT_INSTALLED);
  assert.deepEqual(seen.down, [[HOST_STATE.NOT_INSTALLED, 'Specified native messaging host not found.']]);
  assert.equal(port.connected, false);
  // Retried after the backoff (750 ms with this random)...
  await settle(5);
  assert.equal(runtime.ports.length, 1);

  // ...or at once by a new request.
  const again = port.request({ type: REQUEST.STATUS_GET });
  assert.equal(runtime.ports.length, 2);
  runtime.lastError = { message: 'Native host has exited.' };
  runtime.ports[1].onDisconnect.emit();
  assert.equal((await again).error.code, ERROR_CODE.HOST_UNAVAILABLE);
  assert.equal(seen.down[1][0], HOST_STATE.FAILED);
});

test('a port that dies while sending fails the request', async () => {
  const { runtime, port } = host();
  port.connect();
  runtime.ports[0].postMessage = () => {
    throw new Error('Attempting to use a disconnected port object');
  };
  const reply = await port.request({ type: REQUEST.STATUS_GET });
  assert.equal(reply.error.code, ERROR_CODE.HOST_UNAVAILABLE);
});
