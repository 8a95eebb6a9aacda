import assert from 'node:assert/strict';
import { test } from 'node:test';

import { HOST_MESSAGE, REQUEST } from '../static/shared/protocol.js';
import { createReports } from '../static/worker/reports.js';
import { settle } from './fakes.js';

const LIST = [
  { id: 'interessado', label: 'Interessado' },
  { id: 'retornar', label: 'Retornar' },
];

function reports(replies) {
  const state = { report: null };
  const requests = [];
  let published = 0;
  const host = {
    async request(body) {
      requests.push(body);
      return replies[body.type](body);
    },
  };
  const r = createReports({ state, host, publish: () => (published += 1) });
  return { state, requests, r, published: () => published };
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
