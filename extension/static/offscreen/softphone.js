// The salesperson's phone in the browser, run in the extension's offscreen
// document (reasons USER_MEDIA, WEB_RTC, AUDIO_PLAYBACK, so it outlives the
// service worker): a SIP.js user agent over the PBX's WebSocket that
// registers with the credentials the worker sends (`phone.start`),
// reconnects with backoff, answers by itself only Disca's own calls
// (answering.js), lets every other call ring for the user, and plays the
// far end's audio. Reports `phone.state` to the worker on every change and
// `phone.stats` every second of a call. Holds the credentials in memory
// only. The build bundles this file with SIP.js (`cargo xtask extension`).
import { Registerer, RegistererState, SessionState, UserAgent, Web } from 'sip.js';

import {
  CALL_ID_HEADER,
  MICROPHONE,
  REGISTRATION,
  SOFTPHONE_MESSAGE,
  SOFTPHONE_TARGET,
  WORKER_TARGET,
} from '../shared/protocol.js';
import { retryDelay } from '../worker/backoff.js';
import { DECISION, HOLD_MS, createAnswering } from './answering.js';
import { addReport, emptyStats } from './stats.js';

/** Seconds a registration lasts; SIP.js renews it at REFRESH_PERCENT of it. */
const REGISTER_EXPIRES_S = 300;
const REFRESH_PERCENT = 80;
/** How often a call's audio figures are sent. */
const STATS_INTERVAL_MS = 1000;
/** How long ICE candidates are gathered before the answer goes out. */
const ICE_GATHERING_TIMEOUT_MS = 500;
/** How long a sign-out waits for the un-REGISTER. */
const STOP_PATIENCE_MS = 3000;
/** DTMF: what may be sent, and each tone's duration and gap (ms). */
const DTMF_DIGITS = /^[0-9A-D*#]{1,32}$/;
const DTMF_DURATION_MS = 100;
const DTMF_GAP_MS = 70;

const audio = document.getElementById('remote');
const answering = createAnswering();

/** The credentials in use: `BrowserPhone` plus the endpoint, or null. */
let phone = null;
let userAgent = null;
let registerer = null;
/** The WebSocket dropped and is not back yet. */
let disconnected = false;
/** The PBX refused the credentials. */
let refused = false;
let failures = 0;
let retryTimer = null;
let microphone = MICROPHONE.PROMPT;
/** Device ids chosen in the options page ('' = the system's default). */
let devices = { microphone: '', speaker: '' };
/** The call on the phone: {invitation, callId, ringing, muted, from, stats, statsTimer}. */
let current = null;
/** INVITEs held while a click waits for its result: invitation → {header, since, timer}. */
const held = new Map();

function registration() {
  if (!phone) return REGISTRATION.OFF;
  if (refused) return REGISTRATION.REFUSED;
  if (disconnected) return REGISTRATION.DISCONNECTED;
  if (registerer && registerer.state === RegistererState.Registered) return REGISTRATION.REGISTERED;
  return REGISTRATION.CONNECTING;
}

/** The `PhoneState` the popup and badge show. */
function phoneState() {
  const call = current && {
    call_id: current.callId,
    ringing: current.ringing,
    muted: current.muted,
    from: current.from,
  };
  return { registration: registration(), microphone, call: call || null };
}

function toWorker(message) {
  // The worker may be stopped: the message wakes it. No receiver at all
  // (the worker is being replaced) is not an error here.
  chrome.runtime.sendMessage({ target: WORKER_TARGET, ...message }).catch(() => {});
}

function report() {
  toWorker({ type: SOFTPHONE_MESSAGE.STATE, state: phoneState() });
}

// ── Registration ─────────────────────────────────────────────────────────

/** Whether `next` (from `phone.start`) differs from the credentials in use. */
function changed(next) {
  return JSON.stringify(next) !== JSON.stringify(phone);
}

/** The `BrowserPhone` of a `PhoneConfig`, if it is complete. */
function browserPhone(config) {
  const browser = config && config.browser;
  if (!browser) return null;
  const fields = ['ws_url', 'aor', 'username', 'password'];
  if (!fields.every((field) => typeof browser[field] === 'string' && browser[field])) return null;
  const iceServers = Array.isArray(browser.ice_servers) ? browser.ice_servers : [];
  return {
    endpoint: String(config.endpoint || ''),
    ws_url: browser.ws_url,
    aor: browser.aor,
    username: browser.username,
    password: browser.password,
    ice_servers: iceServers
      .filter((server) => server && Array.isArray(server.urls))
      .map((server) => ({
        urls: server.urls.filter((url) => typeof url === 'string'),
        ...(typeof server.username === 'string' ? { username: server.username } : {}),
        ...(typeof server.credential === 'string' ? { credential: server.credential } : {}),
      })),
  };
}

async function start(config) {
  const next = browserPhone(config);
  if (!next) {
    await stop();
    return;
  }
  if (!changed(next) && userAgent) {
    // The same credentials again after a refusal: the PBX may know them now.
    if (refused) {
      refused = false;
      register();
      report();
    }
    return;
  }
  await stop();
  const uri = UserAgent.makeURI(next.aor);
  if (!uri) return;
  phone = next;
  refused = false;
  disconnected = false;
  failures = 0;
  userAgent = new UserAgent({
    uri,
    transportOptions: { server: next.ws_url },
    authorizationUsername: next.username,
    authorizationPassword: next.password,
    userAgentString: 'Disca',
    logLevel: 'warn',
    // The reconnection is ours: jittered, growing delays (backoff.js).
    reconnectionAttempts: 0,
    sessionDescriptionHandlerFactory: Web.defaultSessionDescriptionHandlerFactory(timedMicrophone),
    sessionDescriptionHandlerFactoryOptions: {
      peerConnectionConfiguration: { iceServers: next.ice_servers },
      iceGatheringTimeout: ICE_GATHERING_TIMEOUT_MS,
    },
    delegate: { onConnect, onDisconnect, onInvite },
  });
  const agent = userAgent;
  const own = new Registerer(agent, { expires: REGISTER_EXPIRES_S, refreshFrequency: REFRESH_PERCENT });
  registerer = own;
  own.stateChange.addListener((state) => {
    if (own !== registerer) return;
    if (state === RegistererState.Registered) failures = 0;
    // Lost without a refusal (no answer, a refresh that failed): try again.
    else if (state === RegistererState.Unregistered && !disconnected && !refused) retryRegister(agent);
    report();
  });
  report();
  agent.start().catch(() => {
    if (agent === userAgent) onDisconnect(new Error('connection failed'));
  });
}

/** SIP.js's microphone stream, noting when the call being answered got it. */
const microphoneStream = Web.defaultMediaStreamFactory();

function timedMicrophone(constraints, handler, options) {
  const call = current;
  return microphoneStream(constraints, handler, options).then((stream) => {
    if (call && call === current && call.invitation.sessionDescriptionHandler === handler) {
      call.stats = { ...call.stats, microphone_ms: performance.now() - call.invitedAt };
    }
    return stream;
  });
}

function onConnect() {
  disconnected = false;
  register();
  report();
}

function onDisconnect(error) {
  // A disconnection we asked for (stop) has no error.
  if (!phone || !error) return;
  disconnected = true;
  report();
  reconnectLater();
}

function reconnectLater() {
  clearTimeout(retryTimer);
  const agent = userAgent;
  retryTimer = setTimeout(() => {
    if (agent !== userAgent) return;
    agent.reconnect().catch(() => {
      if (agent === userAgent) reconnectLater();
    });
  }, retryDelay(failures));
  failures += 1;
}

function register() {
  if (!registerer || refused) return;
  const agent = userAgent;
  registerer
    .register({
      requestDelegate: {
        onReject(response) {
          if (agent !== userAgent) return;
          const code = response.message.statusCode;
          // Refused after the digest: the worker asks for new credentials.
          if (code === 401 || code === 403 || code === 404) {
            refused = true;
            report();
          } else {
            retryRegister(agent);
          }
        },
      },
    })
    // A REGISTER already in flight, or the transport just dropped: the
    // reconnection registers again.
    .catch(() => {});
}

function retryRegister(agent) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => {
    if (agent === userAgent) register();
  }, retryDelay(failures));
  failures += 1;
}

function withPatience(promise) {
  return Promise.race([promise.catch(() => {}), new Promise((resolve) => setTimeout(resolve, STOP_PATIENCE_MS))]);
}

async function stop() {
  clearTimeout(retryTimer);
  answering.clear();
  for (const invitation of held.keys()) decline(invitation);
  if (current) hangup();
  const agent = userAgent;
  const oldRegisterer = registerer;
  phone = null;
  userAgent = null;
  registerer = null;
  refused = false;
  disconnected = false;
  report();
  if (oldRegisterer && oldRegisterer.state === RegistererState.Registered) {
    await withPatience(oldRegisterer.unregister());
  }
  if (agent) await withPatience(agent.stop());
}

// ── Calls ────────────────────────────────────────────────────────────────

/** When each INVITE arrived (`performance.now()`), for the answer's timing. */
const invited = new WeakMap();

function onInvite(invitation) {
  invited.set(invitation, performance.now());
  const header = invitation.request.getHeader(CALL_ID_HEADER) || null;
  if (current || held.size > 0) {
    invitation.reject({ statusCode: 486 }).catch(() => {});
    return;
  }
  invitation.stateChange.addListener((state) => {
    if (state === SessionState.Established && current && current.invitation === invitation) playRemote();
    if (state === SessionState.Terminated) ended(invitation);
  });
  apply(invitation, header, answering.decide(header, Date.now()), Date.now());
}

function fromOf(invitation) {
  const identity = invitation.remoteIdentity;
  return (identity && (identity.displayName || (identity.uri && identity.uri.user))) || null;
}

function apply(invitation, header, decision, since) {
  if (decision === DECISION.HOLD) {
    const timer = setTimeout(decideHeld, HOLD_MS);
    held.set(invitation, { header, since, timer });
    invitation.progress().catch(() => {});
    return;
  }
  current = {
    invitation,
    callId: header,
    ringing: decision === DECISION.RING,
    muted: false,
    from: fromOf(invitation),
    stats: emptyStats(header),
    statsTimer: null,
    invitedAt: invited.get(invitation) || performance.now(),
  };
  if (decision === DECISION.ANSWER) accept();
  else invitation.progress().catch(() => {});
  report();
}

/** Decides again about the held INVITEs (a click result came, or time passed). */
function decideHeld() {
  for (const [invitation, { header, since, timer }] of held) {
    const decision = answering.decide(header, Date.now(), since);
    if (decision === DECISION.HOLD) continue;
    clearTimeout(timer);
    held.delete(invitation);
    if (current) decline(invitation);
    else apply(invitation, header, decision, since);
  }
}

function accept() {
  const call = current;
  call.ringing = false;
  const audioConstraint = devices.microphone ? { deviceId: { exact: devices.microphone } } : true;
  call.invitation
    .accept({ sessionDescriptionHandlerOptions: { constraints: { audio: audioConstraint, video: false } } })
    .then(() => {
      if (call === current) call.stats = { ...call.stats, answer_ms: performance.now() - call.invitedAt };
    })
    .catch((error) => {
      if (error && error.name === 'NotFoundError') microphone = MICROPHONE.MISSING;
      else if (error && error.name === 'NotAllowedError') microphone = MICROPHONE.DENIED;
      if (call === current) hangup();
      report();
    });
}

function peerConnection() {
  const handler = current && current.invitation.sessionDescriptionHandler;
  return (handler && handler.peerConnection) || null;
}

function playRemote() {
  const handler = current.invitation.sessionDescriptionHandler;
  audio.srcObject = handler.remoteMediaStream;
  if (devices.speaker && audio.setSinkId) audio.setSinkId(devices.speaker).catch(() => {});
  audio.play().catch(() => {});
  const call = current;
  call.statsTimer = setInterval(() => sampleStats(call), STATS_INTERVAL_MS);
}

async function sampleStats(call) {
  const connection = call === current ? peerConnection() : null;
  if (!connection) return;
  const report = await connection.getStats().catch(() => null);
  if (!report || call !== current) return;
  call.stats = addReport(call.stats, report.values());
  toWorker({ type: SOFTPHONE_MESSAGE.STATS, stats: call.stats });
}

function ended(invitation) {
  const entry = held.get(invitation);
  if (entry) {
    clearTimeout(entry.timer);
    held.delete(invitation);
    return;
  }
  if (!current || current.invitation !== invitation) return;
  clearInterval(current.statsTimer);
  if (current.statsTimer) toWorker({ type: SOFTPHONE_MESSAGE.STATS, stats: current.stats });
  audio.srcObject = null;
  current = null;
  report();
}

function decline(invitation) {
  invitation.reject({ statusCode: 603 }).catch(() => {});
}

/** Hangs up the call (BYE), or declines it while it rings. */
function hangup() {
  if (!current) return;
  const invitation = current.invitation;
  if (invitation.state === SessionState.Established) invitation.bye().catch(() => {});
  else if (invitation.state === SessionState.Initial) decline(invitation);
  else invitation.dispose().catch(() => {});
}

function answer() {
  if (current && current.ringing) {
    accept();
    report();
  }
}

function mute(muted) {
  const handler = current && current.invitation.sessionDescriptionHandler;
  if (!handler || typeof muted !== 'boolean') return;
  handler.enableSenderTracks(!muted);
  current.muted = muted;
  report();
}

/** RFC 4733 telephone events on the audio sender. */
function dtmf(digits) {
  const connection = peerConnection();
  if (!connection || typeof digits !== 'string' || !DTMF_DIGITS.test(digits)) return;
  const sender = connection.getSenders().find((s) => s.track && s.track.kind === 'audio' && s.dtmf);
  if (sender) sender.dtmf.insertDTMF(digits, DTMF_DURATION_MS, DTMF_GAP_MS);
}

function useDevices(next) {
  devices = {
    microphone: typeof next.microphone === 'string' ? next.microphone : '',
    speaker: typeof next.speaker === 'string' ? next.speaker : '',
  };
  if (audio.setSinkId) audio.setSinkId(devices.speaker).catch(() => {});
}

// ── Microphone permission ───────────────────────────────────────────────

const PERMISSION = { granted: MICROPHONE.GRANTED, denied: MICROPHONE.DENIED, prompt: MICROPHONE.PROMPT };

async function watchMicrophone() {
  try {
    const status = await navigator.permissions.query({ name: 'microphone' });
    microphone = PERMISSION[status.state] || MICROPHONE.PROMPT;
    status.onchange = () => {
      microphone = PERMISSION[status.state] || MICROPHONE.PROMPT;
      report();
    };
  } catch {
    microphone = MICROPHONE.PROMPT;
  }
}

// ── Messages from the worker ────────────────────────────────────────────

/** Starts and stops, one after the other (each awaits the last's un-REGISTER). */
let lifecycle = Promise.resolve();

function inTurn(job) {
  lifecycle = lifecycle.then(job, job);
  return lifecycle;
}

async function handle(message) {
  switch (message.type) {
    case SOFTPHONE_MESSAGE.START:
      await inTurn(() => start(message.phone));
      break;
    case SOFTPHONE_MESSAGE.STOP:
      await inTurn(stop);
      break;
    case SOFTPHONE_MESSAGE.CLICK:
      answering.click(message.click, Date.now());
      break;
    case SOFTPHONE_MESSAGE.CLICK_RESULT:
      answering.result(message.click, message.call_id, Date.now());
      decideHeld();
      break;
    case SOFTPHONE_MESSAGE.ANSWER:
      answer();
      break;
    case SOFTPHONE_MESSAGE.HANGUP:
      hangup();
      break;
    case SOFTPHONE_MESSAGE.MUTE:
      mute(message.muted);
      break;
    case SOFTPHONE_MESSAGE.DTMF:
      dtmf(message.digits);
      break;
    case SOFTPHONE_MESSAGE.DEVICES:
      useDevices(message);
      break;
    default:
      break;
  }
}

chrome.runtime.onMessage.addListener((message, sender, respond) => {
  if (!message || message.target !== SOFTPHONE_TARGET || sender.id !== chrome.runtime.id) return false;
  handle(message).then(
    () => respond({ type: SOFTPHONE_MESSAGE.STATE, state: phoneState() }),
    () => respond({ type: SOFTPHONE_MESSAGE.STATE, state: phoneState() }),
  );
  return true;
});

// Ready: the worker waits for this first state before it sends anything.
watchMicrophone().then(report);
