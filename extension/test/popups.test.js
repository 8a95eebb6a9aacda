import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FROM_POPUP, POPUP_PORT, TO_POPUP } from '../static/shared/popup-port.js';
import { createPopups } from '../static/worker/popups.js';
import { fakePort, fakeRuntime } from './fakes.js';

function popups() {
  const runtime = fakeRuntime();
  const commands = [];
  const p = createPopups({ runtime, onCommand: (command, reply) => commands.push([command, reply]) });
  const popup = () =>
    fakePort({ name: POPUP_PORT, sender: { id: runtime.id, url: runtime.getURL('popup/popup.html') } });
  return { runtime, commands, popups: p, popup };
}

test('only the extension\'s own popup page is accepted', () => {
  const { runtime, popups: p, popup } = popups();
  assert.ok(p.accept(popup()));
  assert.ok(!p.accept(fakePort({ name: POPUP_PORT, sender: { id: 'other', url: runtime.getURL('popup/') } })));
  assert.ok(!p.accept(fakePort({ name: POPUP_PORT, sender: { id: runtime.id, url: 'https://crm.rdstation.com/' } })));
  assert.ok(!p.accept(fakePort({ name: 'other', sender: { id: runtime.id, url: runtime.getURL('popup/') } })));
});

test('the state goes to every open popup until it closes', () => {
  const { popups: p, popup } = popups();
  const one = popup();
  const two = popup();
  p.accept(one);
  p.accept(two);
  p.publish({ host: 'ready' });
  assert.deepEqual(one.posted, [{ type: TO_POPUP.STATE, state: { host: 'ready' } }]);
  two.onDisconnect.emit();
  p.publish({ host: 'failed' });
  p.publish({ host: 'ready' }, one);
  assert.equal(one.posted.length, 3);
  assert.equal(two.posted.length, 1);
});

test('commands are passed on with a way to report an error', () => {
  const { commands, popups: p, popup } = popups();
  const port = popup();
  p.accept(port);
  port.onMessage.emit({ type: FROM_POPUP.HANGUP });
  port.onMessage.emit({ type: 'something else' });
  assert.equal(commands.length, 1);
  commands[0][1]('Não foi possível desligar.');
  assert.deepEqual(port.posted, [{ type: TO_POPUP.ERROR, message: 'Não foi possível desligar.' }]);
});
