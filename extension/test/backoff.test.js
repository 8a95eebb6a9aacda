import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MAX_RETRY_MS, retryDelay } from '../static/worker/backoff.js';

test('the wait doubles from a second up to the cap', () => {
  const middle = () => 0.5;
  assert.equal(retryDelay(0, middle), 1000);
  assert.equal(retryDelay(1, middle), 2000);
  assert.equal(retryDelay(4, middle), 16_000);
  assert.equal(retryDelay(5, middle), MAX_RETRY_MS);
  assert.equal(retryDelay(40, middle), MAX_RETRY_MS);
});

test('the wait is spread by a quarter either way', () => {
  assert.equal(retryDelay(0, () => 0), 750);
  assert.equal(retryDelay(0, () => 1), 1250);
});
