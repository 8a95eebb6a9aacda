import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createSiteRegistration } from '../static/worker/sites.js';

function registration(settings, granted) {
  const log = [];
  const scripting = {
    registered: [{ id: 'disca-extra-sites' }],
    getRegisteredContentScripts: async ({ ids }) => scripting.registered.filter((r) => ids.includes(r.id)),
    unregisterContentScripts: async ({ ids }) => log.push(['unregister', ids]),
    registerContentScripts: async (scripts) => log.push(['register', scripts.map((s) => [s.id, s.matches])]),
  };
  const register = createSiteRegistration({
    scripting,
    permissions: { contains: async ({ origins }) => granted.includes(origins[0]) },
    loadSettings: async () => settings,
  });
  return { log, register };
}

test('granted HTTPS sites get both content scripts, replacing the old ones', async () => {
  const { log, register } = registration(
    { enabled: true, extraSites: ['https://a.example/*', 'https://b.example/*', 'http://c.example/*'] },
    ['https://a.example/*', 'http://c.example/*'],
  );
  await register();
  assert.deepEqual(log, [
    ['unregister', ['disca-extra-sites']],
    ['register', [['disca-extra-sites', ['https://a.example/*']]]],
    ['register', [['disca-extra-sites-early', ['https://a.example/*']]]],
  ]);
});

test('nothing is registered while Disca is off', async () => {
  const { log, register } = registration({ enabled: false, extraSites: ['https://a.example/*'] }, [
    'https://a.example/*',
  ]);
  await Promise.all([register(), register()]);
  assert.deepEqual(log, [
    ['unregister', ['disca-extra-sites']],
    ['unregister', ['disca-extra-sites']],
  ]);
});
