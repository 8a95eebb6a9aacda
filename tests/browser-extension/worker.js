// Test probe: opens a port to disca-host the way the real extension's
// service worker does, places a call, hangs it up once both sides talk, and
// reports every message it receives to the test's HTTP server (config.json,
// written by the test next to this file).

async function main() {
  const config = await (await fetch(chrome.runtime.getURL("config.json"))).json();
  const report = (kind, payload) =>
    fetch(config.report, { method: "POST", body: JSON.stringify({ kind, payload }) });

  const port = chrome.runtime.connectNative("com.disca.host");
  let hungUp = false;
  port.onDisconnect.addListener(() =>
    report("disconnected", chrome.runtime.lastError ? chrome.runtime.lastError.message : null));
  port.onMessage.addListener((message) => {
    report("message", message);
    if (message.type === "status.get.ok") {
      port.postMessage({
        v: 1, id: "start", type: "call.start", number: config.number,
        context: { deal_id: "5f1e7a9b2c3d4e5f6a7b8c9d", contact_name: "Maria da Silva" },
      });
    }
    if (message.type === "call.update" && message.call.state === "connected" && !hungUp) {
      hungUp = true;
      port.postMessage({ v: 1, id: "hangup", type: "call.hangup", call_id: message.call.id });
    }
  });
  port.postMessage({ v: 1, id: "status", type: "status.get" });
}

main().catch((e) => console.error("probe failed", e));
