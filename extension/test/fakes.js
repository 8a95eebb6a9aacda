// Stand-ins for the `chrome` APIs the worker's modules are given, so their
// tests run in Node without a browser.

/** A chrome.events.Event: listeners added, and `emit` to call them. */
export function fakeEvent() {
  const listeners = [];
  return {
    addListener: (listener) => listeners.push(listener),
    emit: (...args) => listeners.map((listener) => listener(...args)),
    get count() {
      return listeners.length;
    },
  };
}

/** A runtime.Port: what was posted, and events to emit. */
export function fakePort({ name = '', sender = {} } = {}) {
  return {
    name,
    sender,
    posted: [],
    onMessage: fakeEvent(),
    onDisconnect: fakeEvent(),
    postMessage(message) {
      this.posted.push(message);
    },
  };
}

/** chrome.runtime with connectNative handing out fake ports. */
export function fakeRuntime({ id = 'extension-id' } = {}) {
  const runtime = {
    id,
    lastError: undefined,
    ports: [],
    getURL: (path) => `chrome-extension://${id}/${path}`,
    connectNative(name) {
      const port = fakePort({ name });
      runtime.ports.push(port);
      return port;
    },
  };
  return runtime;
}

/** Resolves after the pending promise callbacks (and `ms`) ran. */
export function settle(ms = 0) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
