import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MICROPHONE, OUTCOME, OUTCOME_TEXT, REGISTRATION, STATE_TEXT } from '../static/shared/protocol.js';
import { formatDuration, numberOf, outcomeLine, phoneLine, phoneReady, talkSeconds } from '../static/shared/words.js';

test('durations read as clocks', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(75), '1:15');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(-3), '0:00');
});

test('numbers show the backend\'s display form, else E.164', () => {
  assert.equal(numberOf({ to: '+5511987654321', to_display: '(11) 98765-4321' }), '(11) 98765-4321');
  assert.equal(numberOf({ to: '+5511987654321' }), '+5511987654321');
});

test('outcome lines', () => {
  const answered = { outcome: OUTCOME.ANSWERED, talk_seconds: 135 };
  assert.equal(outcomeLine(answered), 'Atendida · 2:15');
  assert.equal(
    outcomeLine({ ...answered, durations_estimated: true }),
    'Atendida · ≥ 2:15 (duração não confirmada)',
  );
  assert.equal(outcomeLine({ outcome: OUTCOME.NO_ANSWER }), 'Não atendida');
  assert.equal(outcomeLine({ outcome: OUTCOME.BUSY, not_placed: true }), 'Não chegou à central');
  assert.equal(outcomeLine({}), 'Encerrada');
  assert.equal(STATE_TEXT.ringing_agent, 'Tocando o seu telefone…');
  assert.equal(Object.keys(OUTCOME_TEXT).length, Object.keys(OUTCOME).length);
});

test('talk time runs from the lead\'s answer', () => {
  const answered = Date.parse('2026-11-21T12:00:00Z');
  const call = { lead_answered_at: '2026-11-21T12:00:00Z' };
  assert.equal(talkSeconds(call, answered + 42_000), 42);
  assert.equal(talkSeconds({ talk_seconds: 7 }), 7);
  assert.equal(talkSeconds({}), 0);
});

test('the browser phone says what keeps it from taking a call', () => {
  const phone = (registration, microphone) => ({ state: { registration, microphone } });
  assert.equal(phoneLine(phone(REGISTRATION.REGISTERED, MICROPHONE.GRANTED)), 'Telefone pronto');
  assert.equal(phoneLine(phone(REGISTRATION.CONNECTING, MICROPHONE.PROMPT)), 'Conectando o telefone…');
  assert.equal(phoneLine(phone(REGISTRATION.REGISTERED, MICROPHONE.PROMPT)), 'Permita o microfone');
  assert.equal(phoneLine({ state: null }), 'Conectando o telefone…');
  assert.ok(phoneReady(phone(REGISTRATION.REGISTERED, MICROPHONE.GRANTED)));
  assert.ok(!phoneReady(phone(REGISTRATION.REGISTERED, MICROPHONE.DENIED)));
  assert.ok(!phoneReady({ state: null }));
});
