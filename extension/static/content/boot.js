// Starts Disca's content script at document_idle: takes the settings and
// the wasm module load.js loaded (or the JS fallback) and carries each click
// to the service worker. Everything on the page itself
// is done by the wasm module.
(async () => {
  // Once per page, even when a site is covered twice (manifest and options).
  if (globalThis.discaStarted) return;
  globalThis.discaStarted = true;
  // Read by load.js at document_start: null when Disca is off here.
  const settings = await globalThis.discaSettings;
  if (!settings) return;

  const loading = performance.now();
  const engine = await load();
  const loaded = performance.now();
  const content = wasm_bindgen.Content.start(settings.region, placeCall);
  const ready = performance.now();
  // Load timings, for test and benchmark pages that ask for them.
  if (document.documentElement.hasAttribute('data-disca-report')) {
    document.dispatchEvent(
      new CustomEvent('disca-ready', {
        detail: JSON.stringify({
          engine,
          rehearsal_ms: globalThis.discaRehearsalMs,
          instantiate_ms: loaded - loading,
          first_scan_ms: ready - loaded,
        }),
      }),
    );
  }

  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'sync' && (changes.enabled || changes.region || changes.sites)) {
      // The new settings apply on the next page load; stop answering now if
      // Disca was switched off.
      if (changes.enabled && changes.enabled.newValue === false) content.stop();
    }
  });

  /** Loads the wasm module; when that fails (on a page whose
   *  Content-Security-Policy makes Chromium refuse to compile wasm even in
   *  content scripts), the same code compiled to JS, injected by the
   *  service worker. */
  async function load() {
    try {
      // Loaded since document_start by load.js.
      await globalThis.discaLoaded;
      return 'wasm';
    } catch {
      // A CSP that refuses wasm (CompileError), or the module not fetched.
    }
    const injected = await chrome.runtime.sendMessage({ type: discaMessages.FALLBACK });
    if (!injected || !injected.ok || typeof globalThis.discaWasm2js !== 'function') {
      throw new Error(`Disca: no JS fallback (${injected && injected.message})`);
    }
    // WebAssembly.instantiate of this world only (not the page's), for the
    // wasm-bindgen glue's one call.
    const instantiate = WebAssembly.instantiate;
    WebAssembly.instantiate = async (_bytes, imports) => {
      const env = {
        abort: () => {
          throw new Error('abort');
        },
      };
      for (const module of Object.values(imports)) Object.assign(env, module);
      return { instance: { exports: globalThis.discaWasm2js(env) }, module: null };
    };
    try {
      await wasm_bindgen({ module_or_path: new ArrayBuffer(0) });
    } finally {
      WebAssembly.instantiate = instantiate;
    }
    return 'js';
  }

  /** The state each control shows until its timer clears it. */
  const clearing = new WeakMap();

  async function placeCall(number, context, control) {
    let reply;
    try {
      reply = await chrome.runtime.sendMessage({ type: discaMessages.CALL_START, number, context });
    } catch (error) {
      const reloaded = /context invalidated/i.test(String(error));
      reply = {
        ok: false,
        message: reloaded
          ? 'O Disca foi atualizado: recarregue a página.'
          : 'O Disca não respondeu; tente de novo.',
      };
    }
    const ok = Boolean(reply && reply.ok);
    const message = ok
      ? 'Atenda o seu telefone: a ligação começa por ele.'
      : (reply && reply.message) || 'Não foi possível ligar.';
    content.feedback(control, ok ? 'calling' : 'error', message);
    clearTimeout(clearing.get(control));
    clearing.set(
      control,
      setTimeout(() => content.feedback(control, undefined, undefined), ok ? 8000 : 6000),
    );
  }
})();
