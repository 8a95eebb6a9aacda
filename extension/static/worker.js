// Disca's service worker: keeps one native messaging port to disca-host
// (reopened when it drops), carries clicks from CRM pages and commands from
// the popup to it, follows the live call, shows it on the badge, notifies
// when a call ends, offers the after-call form, and runs the browser
// phone's offscreen document. Each
// job is a module of worker/; this file only wires them to the browser.
import { HOST_MESSAGE, REQUEST } from './shared/protocol.js';
import { FROM_POPUP, HOST_STATE } from './shared/popup-port.js';
import { FROM_PAGE } from './shared/page-messages.js';
import { loadSettings } from './shared/settings.js';
import { createBadge, notifyEnded } from './worker/badge.js';
import { createCaller, createClicks } from './worker/clicks.js';
import { createHost } from './worker/host.js';
import { createPhone } from './worker/phone.js';
import { createPopups } from './worker/popups.js';
import { createReports } from './worker/reports.js';
import { createSession, initialState } from './worker/session.js';
import { createSignIn } from './worker/sign-in.js';
import { createSiteRegistration } from './worker/sites.js';

const state = initialState(chrome.runtime.id);
const badge = createBadge(chrome.action, () => state);
const popups = createPopups({ runtime: chrome.runtime, onCommand });

function publish() {
  badge.show();
  popups.publish(state);
}

const host = createHost({
  runtime: chrome.runtime,
  onMessage: (message) => {
    if (!signIn.onHostMessage(message)) session.onHostMessage(message);
  },
  onConnect: () => {
    // While retrying after a failure, the popup keeps saying what failed.
    if (state.host !== HOST_STATE.NOT_INSTALLED && state.host !== HOST_STATE.FAILED) {
      state.host = HOST_STATE.CONNECTING;
      publish();
    }
    session.refresh();
  },
  onDown: (hostState, reason) => {
    state.host = hostState;
    state.hostError = reason;
    publish();
  },
});
const phone = createPhone({
  runtime: chrome.runtime,
  offscreen: chrome.offscreen,
  notifications: chrome.notifications,
  storage: chrome.storage.local,
  tabs: chrome.tabs,
  request: host.request,
  state,
  publish,
});
const reports = createReports({ state, host, publish, place: createCaller(host.request, phone) });
const session = createSession({
  state,
  host,
  publish,
  ended: (call) => {
    notifyEnded(chrome, call);
    reports.callEnded(call);
  },
  phone,
});
const signIn = createSignIn({
  state,
  host,
  tabs: chrome.tabs,
  managed: chrome.storage.managed,
  publish,
  refresh: () => session.refresh(),
});
signIn.loadPreset();

// For DevTools, the tests and the demo: the popup's state (with the phone's
// state and last call's audio figures) and the phone.
globalThis.disca = { state, phone };

async function onCommand(command, reply) {
  if (command.type === FROM_POPUP.HANGUP) {
    // The softphone's call (if any) ends with a BYE; the host ends the Disca call.
    phone.hangup();
    if (!state.live) return;
    const answer = await host.request({ type: REQUEST.CALL_HANGUP, call_id: state.live.id });
    if (answer.type === HOST_MESSAGE.ERROR) reply(answer.error.message);
  } else if (command.type === FROM_POPUP.ANSWER) {
    phone.answer();
  } else if (command.type === FROM_POPUP.MUTE) {
    phone.mute(Boolean(command.muted));
  } else if (command.type === FROM_POPUP.DTMF) {
    phone.dtmf(String(command.digits || ''));
  } else if (command.type === FROM_POPUP.SIGN_IN) {
    await signIn.start(typeof command.backendUrl === 'string' ? command.backendUrl : null);
  } else if (command.type === FROM_POPUP.SIGN_OUT) {
    await signIn.signOut();
  } else if (command.type === FROM_POPUP.REPORT) {
    await reports.send(command, reply);
  } else if (command.type === FROM_POPUP.REPORT_DISMISS) {
    reports.dismiss();
  } else if (command.type === FROM_POPUP.CALL_OTHER) {
    await reports.callOther(String(command.number || ''), reply);
  } else if (command.type === FROM_POPUP.RETRY) {
    host.succeeded();
    if (host.connected) session.refresh();
    else host.connect();
  }
}

host.connect();

chrome.runtime.onConnect.addListener((port) => {
  if (!popups.accept(port)) return;
  popups.publish(state, port);
  if (host.connected && state.host === HOST_STATE.READY) session.refresh();
  else host.connect();
});

chrome.runtime.onMessage.addListener(
  createClicks({ runtime: chrome.runtime, scripting: chrome.scripting, request: host.request, phone }),
);
chrome.runtime.onMessage.addListener(phone.listener);
chrome.runtime.onMessage.addListener((message, sender) => {
  // One of the extension's own pages (a content script's sender.url is the CRM page's).
  const fromPage = sender.id === chrome.runtime.id && (sender.url || '').startsWith(chrome.runtime.getURL(''));
  if (fromPage && message && message.type === FROM_PAGE.MICROPHONE_GRANTED) phone.microphoneGranted();
  return false;
});
chrome.notifications.onButtonClicked.addListener(phone.onNotificationButton);

const registerExtraSites = createSiteRegistration({
  scripting: chrome.scripting,
  permissions: chrome.permissions,
  loadSettings,
});
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === 'sync' && (changes.extraSites || changes.enabled)) registerExtraSites();
  if (area === 'local' && (changes.microphone || changes.speaker)) phone.devicesChanged();
  // Policies arrive after start-up too.
  if (area === 'managed') signIn.loadPreset();
});
chrome.runtime.onInstalled.addListener(() => registerExtraSites());
