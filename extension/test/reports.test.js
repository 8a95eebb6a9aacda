import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HOST_MESSAGE, OUTCOME, REQUEST } from '../static/shared/protocol.js';
import { createReports } from '../static/worker/reports.js';
import { settle } from './fakes.js';

const LIST = [
  { id: 'interessado', label: 'Interessado' },
  { id: 'retornar', label: 'Retornar' },
];

function reports(replies) {
  const state = { report: null };
  const requests = [];
  const placed = [];
  let published = 0;
  const host = {
    async request(body) {
      requests.push(body);
      return replies[body.type](body);
    },
  };
  const place = async (number, context) => {
    placed.push({ number, context });
    return { type: HOST_MESSAGE.CALL_STARTED, call: { id: 'next' } };
  };
  const r = createReports({ state, host, publish: () => (published += 1), place });
  return { state, requests, placed, r, published: () => published };
}

test('an ended call offers the form with the company outcomes, read once', async () => {
  const { state, requests, r } = reports({
    [REQUEST.DISPOSITIONS_GET]: () => ({ type: HOST_MESSAGE.DISPOSITIONS, dispositions: LIST }),
  });
  r.callEnded({ id: 'a', not_placed: false });
  assert.equal(state.report.callId, 'a');
  await settle();
  assert.deepEqual(state.report.dispositions, LIST);
  r.callEnded({ id: 'b' });
  assert.deepEqual(state.report.dispositions, LIST, 'known at once the second time');
  await settle();
  assert.equal(requests.filter((q) => q.type === REQUEST.DISPOSITIONS_GET).length, 1);
});

test('a call that never reached the PBX offers nothing', () => {
  const { state, r } = reports({});
  r.callEnded({ id: 'a', not_placed: true });
  assert.equal(state.report, null);
});

test('the form goes to the host as call.report, and the answer is kept', async () => {
  const saved = { report: {}, note: 'in_the_note', task: 'queued' };
  const { state, requests, r } = reports({
    [REQUEST.DISPOSITIONS_GET]: () => ({ type: HOST_MESSAGE.DISPOSITIONS, dispositions: LIST }),
    [REQUEST.CALL_REPORT]: () => ({ type: HOST_MESSAGE.REPORT_SAVED, saved }),
  });
  r.callEnded({ id: 'a' });
  const errors = [];
  await r.send(
    { callId: 'a', disposition: 'retornar', note: 'Ligar amanhã', followUpAt: '2026-12-05T17:30:00.000Z' },
    (m) => errors.push(m),
  );
  const sent = requests.find((q) => q.type === REQUEST.CALL_REPORT);
  assert.deepEqual(sent, {
    type: REQUEST.CALL_REPORT,
    call_id: 'a',
    report: { note: 'Ligar amanhã', disposition: 'retornar', follow_up_at: '2026-12-05T17:30:00.000Z' },
  });
  assert.deepEqual(state.report.saved, saved);
  assert.deepEqual(errors, []);
  // A form for another call (an older popup) is not sent.
  await r.send({ callId: 'zzz', note: 'x' }, () => {});
  assert.equal(requests.filter((q) => q.type === REQUEST.CALL_REPORT).length, 1);
});

test('a refusal is shown and the form stays', async () => {
  const { state, r } = reports({
    [REQUEST.DISPOSITIONS_GET]: () => ({ type: HOST_MESSAGE.DISPOSITIONS, dispositions: LIST }),
    [REQUEST.CALL_REPORT]: () => ({ type: HOST_MESSAGE.ERROR, error: { code: 'backend_error', message: 'O retorno precisa ser no futuro.' } }),
  });
  r.callEnded({ id: 'a' });
  const errors = [];
  await r.send({ callId: 'a', note: 'x' }, (m) => errors.push(m));
  assert.deepEqual(errors, ['O retorno precisa ser no futuro.']);
  assert.equal(state.report.saved, null);
  assert.equal(state.report.saving, false);
  r.dismiss();
  assert.equal(state.report, null);
});

test('after a no-answer, the deal other phones are offered and only they are called', async () => {
  const phones = [{ number: '+551134567890', display: '(11) 3456-7890', contact: 'Carlos Souza' }];
  const { state, requests, placed, r } = reports({
    [REQUEST.DISPOSITIONS_GET]: () => ({ type: HOST_MESSAGE.DISPOSITIONS, dispositions: LIST }),
    [REQUEST.CALL_OTHER_PHONES]: () => ({ type: HOST_MESSAGE.OTHER_PHONES, deal_id: '5f1e7a9b2c3d4e5f6a7b8c9d', phones }),
  });
  // The page knew no deal; the backend found the one the phones are from.
  const context = { contact_id: 'c1', contact_name: 'Mariana Costa' };
  r.callEnded({ id: 'a', outcome: OUTCOME.NO_ANSWER, context });
  await settle();
  assert.deepEqual(requests.find((q) => q.type === REQUEST.CALL_OTHER_PHONES), { type: REQUEST.CALL_OTHER_PHONES, call_id: 'a' });
  assert.deepEqual(state.report.otherPhones, phones);
  await r.callOther('+5511999999999', () => {});
  assert.deepEqual(placed, [], 'a number the popup did not offer is never called');
  await r.callOther('+551134567890', () => {});
  assert.deepEqual(placed, [
    { number: '+551134567890', context: { deal_id: '5f1e7a9b2c3d4e5f6a7b8c9d', contact_name: 'Carlos Souza' } },
  ]);
});

test('an answered call asks for no other phone', async () => {
  const { requests, r } = reports({
    [REQUEST.DISPOSITIONS_GET]: () => ({ type: HOST_MESSAGE.DISPOSITIONS, dispositions: LIST }),
  });
  r.callEnded({ id: 'a', outcome: OUTCOME.ANSWERED });
  await settle();
  assert.equal(requests.filter((q) => q.type === REQUEST.CALL_OTHER_PHONES).length, 0);
});
