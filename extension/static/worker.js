// Disca's service worker: keeps one native messaging port to disca-host
// (reopened when it drops), carries clicks from CRM pages and commands from
// the popup to it, follows the live call, shows it on the badge, and
// notifies when a call ends.
import { isHttpsPattern, loadSettings } from './shared/settings.js';
import { STATE_TEXT, formatNumber, outcomeLine, talkSeconds } from './shared/words.js';

const HOST = 'com.disca.host';
const RECENT = 10;
/** Longest wait between two attempts to reach the host. */
const MAX_RETRY_MS = 30_000;
/** How long the host has to answer a request. */
const REQUEST_TIMEOUT_MS = 20_000;

/** What the popup shows; sent whole on every change. */
const state = {
  // connecting | ready | not_installed | failed
  host: 'connecting',
  hostError: null,
  loggedIn: null,
  user: null,
  backendUrl: null,
  // not_configured | connecting | reachable | unreachable
  backend: 'connecting',
  problem: null,
  live: null,
  recent: [],
  extensionId: chrome.runtime.id,
};

let port = null;
let nextId = 1;
const pending = new Map();
let attempts = 0;
let retryTimer = null;
let badgeTimer = null;
/** Counts call.update events, so a slower status reply never undoes one. */
let callUpdates = 0;
const popups = new Set();

connect();

function connect() {
  clearTimeout(retryTimer);
  retryTimer = null;
  if (port) return;
  // While retrying after a failure, the popup keeps saying what failed.
  if (state.host !== 'not_installed' && state.host !== 'failed') {
    state.host = 'connecting';
    publish();
  }
  port = chrome.runtime.connectNative(HOST);
  port.onMessage.addListener(onHostMessage);
  port.onDisconnect.addListener(() => {
    const error = chrome.runtime.lastError ? chrome.runtime.lastError.message : '';
    port = null;
    for (const [, request] of pending) {
      request.resolve({ type: 'error', error: hostDown(error) });
    }
    pending.clear();
    state.host = /not found/i.test(error) ? 'not_installed' : 'failed';
    state.hostError = error || null;
    publish();
    const delay = Math.min(MAX_RETRY_MS, 1000 * 2 ** attempts) * (0.75 + Math.random() / 2);
    attempts += 1;
    retryTimer = setTimeout(connect, delay);
  });
  refresh();
}

/** Asks the host who is logged in, the live call, the recent calls. */
async function refresh() {
  const seen = callUpdates;
  const reply = await request({ type: 'status.get' });
  if (reply.type !== 'status.get.ok') {
    // A host that answers but cannot serve (another protocol version, a
    // locked credential store): say so rather than "connecting" forever.
    if (port && reply.error && reply.error.code !== 'host_unavailable') {
      state.host = 'failed';
      state.hostError = reply.error.message;
      publish();
    }
    return;
  }
  attempts = 0;
  const status = reply.status;
  state.host = 'ready';
  state.hostError = null;
  state.loggedIn = status.logged_in;
  state.user = status.user || null;
  state.backendUrl = status.backend_url || null;
  state.backend = status.backend;
  if (!status.logged_in) {
    state.problem = { kind: 'auth', message: 'Você não está conectado ao Disca.' };
  } else if (status.backend !== 'unreachable') {
    state.problem = null;
  } else if (!state.problem || state.problem.kind !== 'backend') {
    state.problem = { kind: 'backend', message: '' };
  }
  // Only if no newer call.update arrived while the host answered.
  if (callUpdates === seen) setLive(status.live_call || null);
  const recent = await request({ type: 'calls.recent', limit: RECENT });
  if (recent.type === 'calls.recent.ok' && callUpdates === seen) state.recent = recent.calls;
  publish();
}

function request(body) {
  if (!port) connect();
  return new Promise((resolve) => {
    if (!port) {
      resolve({ type: 'error', error: hostDown(state.hostError) });
      return;
    }
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve({
        type: 'error',
        error: { code: 'host_timeout', message: 'O disca-host não respondeu a tempo.' },
      });
    }, REQUEST_TIMEOUT_MS);
    pending.set(id, {
      resolve: (reply) => {
        clearTimeout(timer);
        resolve(reply);
      },
    });
    try {
      port.postMessage({ v: 1, id, ...body });
    } catch {
      // The port died between the check and the send.
      pending.delete(id);
      clearTimeout(timer);
      resolve({ type: 'error', error: hostDown(state.hostError) });
    }
  });
}

function hostDown(error) {
  return /not found/i.test(error || '')
    ? { code: 'host_not_installed', message: 'O disca-host não está instalado neste computador.' }
    : { code: 'host_unavailable', message: 'O disca-host parou; tentando de novo.' };
}

function onHostMessage(message) {
  if (message.id !== undefined && message.id !== null && pending.has(message.id)) {
    const request = pending.get(message.id);
    pending.delete(message.id);
    request.resolve(message);
  }
  switch (message.type) {
    case 'call.update':
      onCall(message.call);
      break;
    case 'call.start.ok':
    case 'call.hangup.ok':
      onCall(message.call);
      break;
    case 'auth.required':
      state.loggedIn = false;
      state.problem = { kind: 'auth', message: message.message };
      publish();
      break;
    case 'backend.unreachable':
      state.backend = 'unreachable';
      state.problem = { kind: 'backend', message: message.message };
      publish();
      break;
    case 'backend.reachable':
      state.backend = 'reachable';
      if (state.problem && state.problem.kind === 'backend') state.problem = null;
      refresh();
      break;
    default:
      break;
  }
}

/** A call of the user's changed: the live call, the recent list, the badge. */
function onCall(call) {
  if (!call || typeof call.id !== 'string') return;
  callUpdates += 1;
  const known = state.recent.findIndex((c) => c.id === call.id);
  if (known >= 0) state.recent[known] = call;
  else state.recent = [call, ...state.recent].slice(0, RECENT);
  if (call.state === 'ended') {
    if (state.live && state.live.id === call.id) {
      setLive(null);
      notifyEnded(call);
    }
  } else {
    setLive(call);
  }
  publish();
}

function setLive(call) {
  state.live = call;
  clearInterval(badgeTimer);
  badgeTimer = null;
  if (call && call.state === 'connected') badgeTimer = setInterval(showBadge, 1000);
  showBadge();
}

/** The badge: the live call's stage, a running timer while connected, or
 *  "!" when something keeps calls from working. */
function showBadge() {
  const call = state.live;
  let text = '';
  let color = '#5f6b7a';
  let title = 'Disca';
  if (call) {
    title = `Disca: ${STATE_TEXT[call.state] || call.state} ${formatNumber(call.to)}`;
    if (call.state === 'connected') {
      // Never below zero, whatever the clocks of the host and the browser.
      const seconds = Math.max(0, talkSeconds(call));
      const minutes = Math.floor(seconds / 60);
      text = minutes < 10 ? `${minutes}:${String(Math.floor(seconds % 60)).padStart(2, '0')}` : `${minutes}m`;
      color = '#00855a';
    } else {
      text = '...';
      color = call.state === 'queued' || call.state === 'ringing_agent' ? '#c27c0e' : '#1f6fb2';
    }
  } else if (state.host === 'not_installed' || state.host === 'failed' || state.problem) {
    text = '!';
    color = '#a61b1b';
    title = 'Disca: abra para ver o que falta';
  }
  chrome.action.setBadgeText({ text });
  chrome.action.setBadgeBackgroundColor({ color });
  chrome.action.setTitle({ title });
}

function notifyEnded(call) {
  chrome.notifications.create(`call-${call.id}`, {
    type: 'basic',
    iconUrl: chrome.runtime.getURL('icons/disca-128.png'),
    title: `Ligação encerrada: ${formatNumber(call.to)}`,
    message: outcomeLine(call),
  });
}

function publish() {
  showBadge();
  for (const popup of popups) popup.postMessage({ type: 'state', state });
}

// The popup: a port per open popup, state pushed on every change.
chrome.runtime.onConnect.addListener((popup) => {
  const fromPopup = (popup.sender.url || '').startsWith(chrome.runtime.getURL('popup/'));
  if (popup.name !== 'popup' || popup.sender.id !== chrome.runtime.id || !fromPopup) return;
  popups.add(popup);
  popup.onDisconnect.addListener(() => popups.delete(popup));
  popup.onMessage.addListener(async (message) => {
    if (message.type === 'hangup' && state.live) {
      const reply = await request({ type: 'call.hangup', call_id: state.live.id });
      if (reply.type === 'error') popup.postMessage({ type: 'error', message: reply.error.message });
    } else if (message.type === 'retry') {
      attempts = 0;
      if (port) refresh();
      else connect();
    }
  });
  popup.postMessage({ type: 'state', state });
  if (port && state.host === 'ready') refresh();
  else connect();
});

// Clicks on CRM pages, and the content script's JS fallback for pages
// whose Content-Security-Policy forbids compiling its wasm.
chrome.runtime.onMessage.addListener((message, sender, respond) => {
  if (sender.id !== chrome.runtime.id || !sender.tab || !message) return false;
  if (message.type === 'content.fallback') {
    chrome.scripting
      .executeScript({
        target: { tabId: sender.tab.id, frameIds: [sender.frameId] },
        files: ['content/disca_content_asm.js'],
      })
      .then(() => respond({ ok: true }))
      .catch((error) => respond({ ok: false, message: String(error) }));
    return true;
  }
  if (message.type !== 'call.start') return false;
  const number = typeof message.number === 'string' ? message.number : '';
  const context = cleanContext(message.context);
  request({ type: 'call.start', number, context }).then((reply) => {
    if (reply.type === 'call.start.ok') respond({ ok: true });
    else respond({ ok: false, code: reply.error.code, message: reply.error.message });
  });
  return true;
});

/** Only the context's known fields, and only strings. */
function cleanContext(context) {
  const clean = {};
  if (context && typeof context === 'object') {
    for (const key of ['deal_id', 'contact_id', 'contact_name', 'page_url']) {
      if (typeof context[key] === 'string') clean[key] = context[key];
    }
  }
  return clean;
}

// Sites the user added in the options get the content script too. Calls
// are chained: two overlapping ones would register the same ids twice.
let registering = Promise.resolve();
function registerExtraSites() {
  registering = registering.then(registerNow).catch(() => {});
  return registering;
}

async function registerNow() {
  const settings = await loadSettings();
  const id = 'disca-extra-sites';
  const ids = [id, `${id}-early`];
  const registered = await chrome.scripting.getRegisteredContentScripts({ ids });
  if (registered.length) {
    await chrome.scripting.unregisterContentScripts({ ids: registered.map((r) => r.id) });
  }
  const granted = [];
  for (const pattern of settings.extraSites.filter(isHttpsPattern)) {
    if (await chrome.permissions.contains({ origins: [pattern] })) granted.push(pattern);
  }
  if (!settings.enabled || granted.length === 0) return;
  await chrome.scripting.registerContentScripts([
    {
      id,
      matches: granted,
      js: ['content/boot.js'],
      css: ['content/disca.css'],
      runAt: 'document_idle',
      persistAcrossSessions: true,
    },
  ]);
  await chrome.scripting.registerContentScripts([
    {
      id: `${id}-early`,
      matches: granted,
      js: ['content/disca_content.js', 'content/load.js'],
      runAt: 'document_start',
      persistAcrossSessions: true,
    },
  ]);
}

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === 'sync' && (changes.extraSites || changes.enabled)) registerExtraSites();
});
chrome.runtime.onInstalled.addListener(() => registerExtraSites());
