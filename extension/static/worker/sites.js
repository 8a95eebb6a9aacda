// Sites the user added in the options get the content script too, as
// content scripts registered at run time for the origins the user granted.
import { isHttpsPattern } from '../shared/settings.js';

const ID = 'disca-extra-sites';
const EARLY_ID = `${ID}-early`;

/**
 * @param {object} options
 * @param {typeof chrome.scripting} options.scripting
 * @param {typeof chrome.permissions} options.permissions
 * @param {() => Promise<object>} options.loadSettings
 * @returns {() => Promise<void>} registers again; calls are chained, since
 *   two overlapping ones would register the same ids twice
 */
export function createSiteRegistration({ scripting, permissions, loadSettings }) {
  let registering = Promise.resolve();

  async function registerNow() {
    const settings = await loadSettings();
    const registered = await scripting.getRegisteredContentScripts({ ids: [ID, EARLY_ID] });
    if (registered.length) {
      await scripting.unregisterContentScripts({ ids: registered.map((r) => r.id) });
    }
    const granted = [];
    for (const pattern of settings.extraSites.filter(isHttpsPattern)) {
      if (await permissions.contains({ origins: [pattern] })) granted.push(pattern);
    }
    if (!settings.enabled || granted.length === 0) return;
    await scripting.registerContentScripts([
      {
        id: ID,
        matches: granted,
        js: ['content/boot.js'],
        css: ['content/disca.css'],
        runAt: 'document_idle',
        persistAcrossSessions: true,
      },
    ]);
    await scripting.registerContentScripts([
      {
        id: EARLY_ID,
        matches: granted,
        js: ['content/disca_content.js', 'content/load.js'],
        runAt: 'document_start',
        persistAcrossSessions: true,
      },
    ]);
  }

  return () => {
    registering = registering.then(registerNow).catch(() => {});
    return registering;
  };
}
