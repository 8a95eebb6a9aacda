// Runs at document_start, after the wasm-bindgen glue (disca_content.js):
// fetches, compiles (off the main thread) and instantiates the content
// script's wasm while the page loads, and rehearses a scan on a detached
// card so the code the first real scan runs is compiled too. boot.js, at document_idle, finds it ready. On a page
// whose CSP forbids wasm the promise rejects and boot.js takes the JS
// fallback.
globalThis.discaLoaded = (async () => {
  const url = chrome.runtime.getURL('content/disca_content_bg.wasm');
  const module = await WebAssembly.compileStreaming(fetch(url));
  await wasm_bindgen({ module_or_path: module });
  wasm_bindgen.rehearse();
})();
globalThis.discaLoaded.catch(() => {});
