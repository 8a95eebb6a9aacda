import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CALL_STATE, MICROPHONE, PHONE_KIND, REGISTRATION } from '../static/shared/protocol.js';
import { HOST_STATE } from '../static/shared/popup-port.js';
import { badgeFor, createBadge, notifyEnded } from '../static/worker/badge.js';
import { fakeRuntime } from './fakes.js';

const live = (state, extra = {}) => ({ id: 'a', state, to: '+5511987654321', to_display: '(11) 98765-4321', ...extra });

test('a connected call shows its running time', () => {
  const answered = Date.parse('2026-11-21T12:00:00Z');
  const state = { live: live(CALL_STATE.CONNECTED, { lead_answered_at: '2026-11-21T12:00:00Z' }) };
  assert.deepEqual(badgeFor(state, answered + 75_000), {
    text: '1:15',
    color: '#00855a',
    title: 'Disca: Em ligação (11) 98765-4321',
  });
  assert.equal(badgeFor(state, answered + 11 * 60_000).text, '11m');
  // Never below zero, whatever the clocks.
  assert.equal(badgeFor(state, answered - 5000).text, '0:00');
});

test('earlier stages show dots, problems an exclamation mark', () => {
  assert.equal(badgeFor({ live: live(CALL_STATE.RINGING_AGENT) }).color, '#c27c0e');
  assert.equal(badgeFor({ live: live(CALL_STATE.RINGING_LEAD) }).color, '#1f6fb2');
  assert.equal(badgeFor({ live: live(CALL_STATE.QUEUED) }).text, '...');
  assert.equal(badgeFor({ live: null, host: HOST_STATE.NOT_INSTALLED }).text, '!');
  assert.equal(badgeFor({ live: null, host: HOST_STATE.READY, problem: { kind: 'auth' } }).text, '!');
  assert.deepEqual(badgeFor({ live: null, host: HOST_STATE.READY, problem: null }), {
    text: '',
    color: '#5f6b7a',
    title: 'Disca',
  });
});

test('the badge ticks only while a call is connected', () => {
  const calls = [];
  const action = {
    setBadgeText: (v) => calls.push(['text', v.text]),
    setBadgeBackgroundColor: () => {},
    setTitle: () => {},
  };
  const state = { live: live(CALL_STATE.CONNECTED, { talk_seconds: 3 }) };
  const badge = createBadge(action, () => state);
  badge.show();
  assert.deepEqual(calls, [['text', '0:03']]);
  state.live = null;
  state.host = HOST_STATE.READY;
  badge.show();
  assert.deepEqual(calls.at(-1), ['text', '']);
});

test('an ended call is notified with its outcome', () => {
  const created = [];
  const chrome = { runtime: fakeRuntime(), notifications: { create: (...args) => created.push(args) } };
  notifyEnded(chrome, live(CALL_STATE.ENDED, { outcome: 'no_answer' }));
  assert.equal(created[0][0], 'call-a');
  assert.equal(created[0][1].title, 'Ligação encerrada: (11) 98765-4321');
  assert.equal(created[0][1].message, 'Não atendida');
});

test('a browser phone that is not ready shows its own mark', () => {
  const phone = (registration, microphone) => ({ kind: PHONE_KIND.BROWSER, state: { registration, microphone }, stats: null });
  const idle = { live: null, host: HOST_STATE.READY, problem: null };
  assert.deepEqual(badgeFor({ ...idle, phone: phone(REGISTRATION.DISCONNECTED, MICROPHONE.GRANTED) }), {
    text: 'tel',
    color: '#c27c0e',
    title: 'Disca: Telefone desconectado; reconectando…',
  });
  assert.equal(badgeFor({ ...idle, phone: phone(REGISTRATION.REGISTERED, MICROPHONE.PROMPT) }).title, 'Disca: Permita o microfone');
  assert.equal(badgeFor({ ...idle, phone: phone(REGISTRATION.REGISTERED, MICROPHONE.GRANTED) }).text, '');
  assert.equal(badgeFor({ ...idle, phone: { kind: PHONE_KIND.DESK, state: null, stats: null } }).text, '');
  assert.equal(badgeFor({ ...idle, phone: { kind: PHONE_KIND.BROWSER, state: null, stats: null } }).title, 'Disca: Conectando o telefone…');
});
