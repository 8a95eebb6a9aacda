// Runs at document_start: starts fetching and compiling the content script's
// wasm while the page loads (compilation runs off the main thread), so it is
// ready when boot.js runs at document_idle. On a page whose CSP forbids wasm
// the promise rejects and boot.js takes the JS fallback.
globalThis.discaModule = WebAssembly.compileStreaming(
  fetch(chrome.runtime.getURL('content/disca_content_bg.wasm')),
);
globalThis.discaModule.catch(() => {});
