import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CLICK_PENDING_MS, DECISION, EXPECTED_MS, HOLD_MS, createAnswering } from '../static/offscreen/answering.js';

test('an INVITE for the call a click placed is answered, once', () => {
  const a = createAnswering();
  a.click('k1', 0);
  a.result('k1', 'call-1', 100);
  assert.equal(a.decide('call-1', 200), DECISION.ANSWER);
  assert.equal(a.decide('call-1', 300), DECISION.RING);
});

test('an INVITE without the header, or for a call nobody asked for, rings', () => {
  const a = createAnswering();
  assert.equal(a.decide(null, 0), DECISION.RING);
  assert.equal(a.decide('', 0), DECISION.RING);
  assert.equal(a.decide('call-x', 0), DECISION.RING);
  a.click('k1', 0);
  a.result('k1', 'call-1', 10);
  assert.equal(a.decide('call-2', 20), DECISION.RING);
  assert.equal(a.decide(null, 20), DECISION.RING);
});

test('an INVITE that arrives before the click result is held, then decided', () => {
  const a = createAnswering();
  a.click('k1', 0);
  assert.equal(a.decide('call-1', 50, 50), DECISION.HOLD);
  a.result('k1', 'call-1', 80);
  assert.equal(a.decide('call-1', 80, 50), DECISION.ANSWER);

  // The click failed: nothing is expected, the held INVITE rings.
  a.click('k2', 1000);
  assert.equal(a.decide('call-2', 1010, 1010), DECISION.HOLD);
  a.result('k2', undefined, 1020);
  assert.equal(a.decide('call-2', 1020, 1010), DECISION.RING);

  // The click became another call: the held INVITE rings.
  a.click('k3', 2000);
  assert.equal(a.decide('call-3', 2010, 2010), DECISION.HOLD);
  a.result('k3', 'call-4', 2020);
  assert.equal(a.decide('call-3', 2020, 2010), DECISION.RING);
});

test('an INVITE without the header is never held', () => {
  const a = createAnswering();
  a.click('k1', 0);
  assert.equal(a.decide(null, 10), DECISION.RING);
});

test('holding, pending clicks and expected ids all run out', () => {
  const a = createAnswering();
  a.click('k1', 0);
  assert.equal(a.decide('call-1', HOLD_MS, 0), DECISION.RING);
  a.click('k2', 0);
  assert.equal(a.decide('call-2', CLICK_PENDING_MS, CLICK_PENDING_MS), DECISION.RING);
  a.click('k3', 0);
  a.result('k3', 'call-3', 0);
  assert.equal(a.decide('call-3', EXPECTED_MS), DECISION.RING);
});

test('clear forgets every click and id', () => {
  const a = createAnswering();
  a.click('k1', 0);
  a.result('k1', 'call-1', 0);
  a.click('k2', 0);
  a.clear();
  assert.equal(a.decide('call-1', 1), DECISION.RING);
  assert.equal(a.decide('call-2', 1), DECISION.RING);
});
