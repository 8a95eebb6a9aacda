// Runs at document_start, after the wasm-bindgen glue (disca_content.js):
// reads the settings, and unless Disca is off here fetches, compiles (off
// the main thread) and instantiates the content script's wasm while the
// page loads, then rehearses a scan on a card in a document of its own,
// never shown, so the code the first real scan runs is compiled too (the
// browser compiles wasm functions on first call). boot.js, at
// document_idle, finds both ready. On a page whose CSP forbids wasm the
// promise rejects and boot.js takes the JS fallback.

// The settings (same keys and defaults as shared/settings.js: content
// scripts cannot import modules), or null when Disca is off on this site.
// IT's policy (chrome.storage.managed, `sites`) wins over the person's choice.
globalThis.discaSettings = (async () => {
  const [settings, managed] = await Promise.all([
    chrome.storage.sync.get({
      enabled: true,
      region: 'BR',
      sites: { crm: true, marketing: true },
    }),
    chrome.storage.managed.get('sites').catch(() => ({})),
  ]);
  const sites = { ...settings.sites, ...(managed.sites || {}) };
  return settings.enabled && siteEnabled(location.hostname, sites) ? settings : null;
})();
globalThis.discaLoaded = (async () => {
  // Fetched and compiled off the main thread, instantiated (about a
  // millisecond) while the settings are read; rehearsed (tens of
  // milliseconds of the main thread) only when Disca is on here.
  const url = chrome.runtime.getURL('content/disca_content_bg.wasm');
  const module = await WebAssembly.compileStreaming(fetch(url));
  await wasm_bindgen({ module_or_path: module });
  if (!(await globalThis.discaSettings)) return;
  try {
    const start = performance.now();
    wasm_bindgen.rehearse(stage(), () => {});
    globalThis.discaRehearsalMs = performance.now() - start;
  } catch {
    // Only a warm-up: a failure here costs the first scan time, not the wasm.
  }
})();
globalThis.discaLoaded.catch(() => {});

/** A contact card with the writings and look-alikes of a CRM page. */
function stage() {
  const doc = document.implementation.createHTMLDocument('');
  doc.documentElement.setAttribute('data-disca-report', '');
  const add = (parent, tag, text) => {
    const element = parent.appendChild(doc.createElement(tag));
    element.textContent = text;
    return element;
  };
  const card = add(doc.body, 'div', '');
  const split = add(card, 'p', 'Celular: ');
  add(split, 'span', '(11) ');
  add(split, 'span', '98765-4321');
  const label = add(card, 'p', ' Negociação');
  label.prepend(add(label, 'b', 'Etapa'));
  add(card, 'p', 'CPF 123.456.789-09, CNPJ 12.345.678/0001-95, CEP 01310-100, 21/11/2026 10:30, R$ 1.250,00 (75%), 192.168.0.1, pedido 2026110012345, 5f1e7a9b2c3d4e5f6a7b8c9d, fixo +55 (11) 3456-7890 ou 11 3456 7890, 0xx11 3456-7890, 0800 724 0011, 4004-0001, +1 212 555 0100');
  add(card, 'a', '(11) 3456-7890').href = 'tel:+551134567890';
  add(card, 'p', '(21) 2345-6789').hidden = true;
  return doc;
}

function siteEnabled(hostname, sites) {
  const within = (domain) => hostname === domain || hostname.endsWith(`.${domain}`);
  if (within('rdstation.com') || within('plugcrm.net')) return sites.crm !== false;
  if (within('rdstation.com.br')) return sites.marketing !== false;
  // A site the user added in the options: registered only while enabled.
  return true;
}
