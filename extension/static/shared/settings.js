// The extension's settings (chrome.storage.sync), shared by the content
// script loader, the service worker, and the options page.

/** Sites Disca runs on out of the box, by group. */
export const SITE_GROUPS = [
  {
    key: 'crm',
    label: 'RD Station CRM (crm.rdstation.com, plugcrm.net)',
    patterns: ['https://*.rdstation.com/*', 'https://*.plugcrm.net/*'],
  },
  {
    key: 'marketing',
    label: 'RD Station Marketing (app.rdstation.com.br)',
    patterns: ['https://*.rdstation.com.br/*'],
  },
];

export const DEFAULTS = {
  enabled: true,
  region: 'BR',
  sites: { crm: true, marketing: true },
  // Origins the user added ("https://example.com"), granted at run time.
  extraSites: [],
};

export const REGIONS = [
  { code: 'BR', label: 'Brasil (DDD, 0800, 4004…); internacionais com +' },
  { code: 'none', label: 'Só números internacionais escritos com +' },
];

export async function loadSettings() {
  const stored = await chrome.storage.sync.get(DEFAULTS);
  return { ...DEFAULTS, ...stored, sites: { ...DEFAULTS.sites, ...stored.sites } };
}

/** The site groups IT set by policy (`sites` in chrome.storage.managed,
 *  see managed_schema.json): they win over the person's choice. */
export async function loadManagedSites() {
  try {
    const { sites } = await chrome.storage.managed.get('sites');
    return sites && typeof sites === 'object' ? sites : {};
  } catch {
    // No policy store on this platform.
    return {};
  }
}

/** The match pattern for an origin typed by the user (HTTPS only: on a
 *  plain HTTP page anyone on the network could rewrite the numbers), or
 *  null. */
export function originPattern(text) {
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    return null;
  }
  if (url.protocol !== 'https:') return null;
  return `https://${url.hostname}/*`;
}

/** Whether a stored pattern is one Disca runs on: HTTPS only (sites added
 *  before that rule may still hold an http:// pattern). */
export function isHttpsPattern(pattern) {
  return typeof pattern === 'string' && pattern.startsWith('https://');
}
