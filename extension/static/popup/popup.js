// The popup: the live call (each stage, a running timer once connected, a
// hang-up button), the call that just ended with its outcome, the recent
// calls, and what to do when the host is missing, nobody is logged in or
// the backend cannot be reached. With a browser phone: whether it is ready
// (connected, registered, microphone allowed), Atender / Recusar for a call
// that rings, and mute and a keypad (DTMF) during a call. All state comes
// from the service worker. After a call, a short form: the company's
// outcome list, a note, and a follow-up date for a task in RD Station.
import { BACKEND_STATE, CALL_STATE, MICROPHONE, PHONE_KIND, REPORT_NOTE_TEXT, REPORT_TASK_TEXT } from '../shared/protocol.js';
import { FROM_POPUP, HOST_STATE, POPUP_PORT, TO_POPUP } from '../shared/popup-port.js';
import { STATE_TEXT, formatDuration, numberOf, outcomeLine, phoneLine, phoneReady, talkSeconds } from '../shared/words.js';

/** The keypad, in its rows. */
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

/** How long a call that ended stays on top of the popup. */
const ENDED_SHOWN_MS = 120_000;

const $ = (id) => document.getElementById(id);
let current = null;
let timer = null;
/** The company's address typed here before (not a secret). */
let typedAddress = null;
chrome.storage.local.get('backendUrl').then(({ backendUrl }) => {
  typedAddress = typeof backendUrl === 'string' ? backendUrl : null;
  if (current) render();
});

/** This computer's system, as the downloads page names it. */
function system() {
  const platform = ((navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || '').toLowerCase();
  if (platform.includes('win')) return { key: 'windows', name: 'Windows' };
  if (platform.includes('mac')) return { key: 'macos', name: 'macOS' };
  return { key: 'deb', name: 'Linux' };
}

/** An address a person typed, if it is one (https, or http on this machine). */
function address(text) {
  try {
    const url = new URL(text.trim());
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (url.protocol === 'https:' || (url.protocol === 'http:' && local)) return url.origin + url.pathname.replace(/\/+$/, '');
  } catch {
    // Not a URL.
  }
  return null;
}

let worker = null;
connect();

/** The port to the service worker, reopened if the worker restarts. */
function connect() {
  worker = chrome.runtime.connect({ name: POPUP_PORT });
  worker.onMessage.addListener((message) => {
    if (message.type === TO_POPUP.STATE) {
      current = message.state;
      render();
    } else if (message.type === TO_POPUP.ERROR) {
      showError(message.message);
    }
  });
  worker.onDisconnect.addListener(() => setTimeout(connect, 200));
}

function send(message) {
  try {
    worker.postMessage(message);
  } catch {
    connect();
  }
}
$('hangup').addEventListener('click', () => send({ type: FROM_POPUP.HANGUP }));
$('retry').addEventListener('click', () => send({ type: FROM_POPUP.RETRY }));
$('sign-out').addEventListener('click', () => send({ type: FROM_POPUP.SIGN_OUT }));
$('sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  const typed = $('backend-url').hidden ? '' : $('backend-url').value.trim();
  if (typed && address(typed)) chrome.storage.local.set({ backendUrl: address(typed) });
  send({ type: FROM_POPUP.SIGN_IN, backendUrl: typed || null });
});
$('install').addEventListener('submit', (event) => {
  event.preventDefault();
  const known = knownAddress(current);
  const base = known || address($('install-url').value);
  if (!base) {
    showError('Escreva o endereço do Disca da sua empresa, como https://disca.suaempresa.com.br.');
    return;
  }
  if (!known) {
    typedAddress = base;
    chrome.storage.local.set({ backendUrl: base });
  }
  chrome.tabs.create({ url: `${base}/downloads#${system().key}` });
});

/** The company's address: preset by IT, used by the host, or typed here. */
function knownAddress(s) {
  return (s && (s.presetBackendUrl || s.backendUrl)) || typedAddress;
}
$('report-follow-up').addEventListener('change', () => {
  $('report-when').hidden = !$('report-follow-up').checked;
  if ($('report-follow-up').checked && !$('report-date').value) {
    // Tomorrow at 10:00, on this computer's clock.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const pad = (n) => String(n).padStart(2, '0');
    $('report-date').value = `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}`;
    $('report-time').value = '10:00';
  }
});
$('report-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const report = current && current.report;
  if (!report) return;
  let followUpAt = null;
  if ($('report-follow-up').checked) {
    // The date and time typed, on this computer's clock.
    const when = new Date(`${$('report-date').value}T${$('report-time').value || '10:00'}`);
    if (Number.isNaN(when.getTime())) {
      showError('Escolha o dia e a hora do retorno.');
      return;
    }
    followUpAt = when.toISOString();
  }
  send({
    type: FROM_POPUP.REPORT,
    callId: report.callId,
    disposition: $('report-outcome').value || null,
    note: $('report-note').value,
    followUpAt,
  });
});
$('report-dismiss').addEventListener('click', () => send({ type: FROM_POPUP.REPORT_DISMISS }));
$('answer').addEventListener('click', () => send({ type: FROM_POPUP.ANSWER }));
$('decline').addEventListener('click', () => send({ type: FROM_POPUP.HANGUP }));
$('phone-hangup').addEventListener('click', () => send({ type: FROM_POPUP.HANGUP }));
$('mute').addEventListener('click', () =>
  send({ type: FROM_POPUP.MUTE, muted: $('mute').getAttribute('aria-pressed') !== 'true' }),
);
$('microphone').addEventListener('click', () => chrome.tabs.create({ url: chrome.runtime.getURL('welcome/welcome.html') }));
$('keypad').replaceChildren(
  ...KEYS.map((key) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = key;
    button.dataset.digit = key;
    button.addEventListener('click', () => send({ type: FROM_POPUP.DTMF, digits: key }));
    return button;
  }),
);

function render() {
  const s = current;
  document.body.dataset.host = s.host;
  $('user').textContent = s.user && s.loggedIn ? s.user.name : '';
  $('sign-out').hidden = !(s.loggedIn && s.host === HOST_STATE.READY);
  renderProblem(s);
  renderPhone(s.phone, Boolean(s.live));
  const live = s.live;
  $('live').hidden = !live;
  $('live').dataset.state = live ? live.state : '';
  if (live) {
    $('live-stage').textContent = STATE_TEXT[live.state] || live.state;
    $('live-number').textContent = numberOf(live);
  }
  clearInterval(timer);
  timer = null;
  if (live && live.state === CALL_STATE.CONNECTED) {
    tick();
    timer = setInterval(tick, 1000);
  }
  $('live-timer').hidden = !(live && live.state === CALL_STATE.CONNECTED);

  const last = s.recent[0];
  const justEnded =
    !live && last && last.state === CALL_STATE.ENDED && last.ended_at && Date.now() - Date.parse(last.ended_at) < ENDED_SHOWN_MS;
  $('ended').hidden = !justEnded;
  $('ended').dataset.outcome = justEnded ? last.outcome || '' : '';
  if (justEnded) {
    $('ended-number').textContent = numberOf(last);
    $('ended-outcome').textContent = outcomeLine(last);
  }
  $('idle').hidden = Boolean(live || justEnded || s.host !== HOST_STATE.READY || s.loggedIn === false);
  renderReport(live ? null : s.report);

  const list = $('recent');
  list.replaceChildren(
    ...s.recent.map((call) => {
      const item = document.createElement('li');
      const number = document.createElement('span');
      number.textContent = numberOf(call);
      const what = document.createElement('span');
      what.className = 'when';
      what.textContent = call.state === CALL_STATE.ENDED ? outcomeLine(call) : STATE_TEXT[call.state] || call.state;
      item.append(number, what);
      return item;
    }),
  );
  $('recent-empty').hidden = s.recent.length > 0;
}

/** The after-call form for the call that just ended; once saved, where it
 *  went. The fields keep what was typed while the state changes. */
function renderReport(report) {
  $('report').hidden = !report;
  if (!report) {
    $('report').dataset.callId = '';
    return;
  }
  if ($('report').dataset.callId !== report.callId) {
    // A new call: a fresh form.
    $('report').dataset.callId = report.callId;
    $('report-form').reset();
    $('report-when').hidden = true;
  }
  const select = $('report-outcome');
  const chosen = select.value;
  select.replaceChildren(
    new Option('Escolha…', ''),
    ...report.dispositions.map((d) => new Option(d.label, d.id)),
  );
  select.value = chosen;
  $('report-save').disabled = report.saving;
  $('report-form').hidden = Boolean(report.saved);
  $('report-saved').hidden = !report.saved;
  $('report').dataset.saved = String(Boolean(report.saved));
  const others = report.otherPhones || [];
  $('other-phones').hidden = others.length === 0;
  $('other-phones-list').replaceChildren(
    ...others.map((phone) => {
      const item = document.createElement('li');
      const text = document.createElement('span');
      text.textContent = phone.contact ? `${phone.display} · ${phone.contact}` : phone.display;
      const call = document.createElement('button');
      call.type = 'button';
      call.textContent = 'Ligar';
      call.dataset.number = phone.number;
      call.addEventListener('click', () => send({ type: FROM_POPUP.CALL_OTHER, number: phone.number }));
      item.append(text, call);
      return item;
    }),
  );
  if (report.saved) {
    $('report-saved').textContent = [REPORT_NOTE_TEXT[report.saved.note], REPORT_TASK_TEXT[report.saved.task]]
      .filter(Boolean)
      .join(' ');
  }
}

/** The browser phone: ready or not, a ringing call, mute and keypad (and a
 *  hang-up button of its own when the call is not a Disca call shown below). */
function renderPhone(phone, live) {
  const browser = Boolean(phone && phone.kind === PHONE_KIND.BROWSER);
  $('phone').hidden = !browser;
  if (!browser) return;
  const state = phone.state;
  const line = phoneLine(phone);
  $('phone').dataset.ready = String(phoneReady(phone));
  $('phone').dataset.registration = state ? state.registration : '';
  $('phone-status').textContent = line;
  $('microphone').hidden = !state || state.microphone === MICROPHONE.GRANTED;
  const call = state && state.call;
  $('ringing').hidden = !(call && call.ringing);
  $('ringing-from').textContent = call && call.from ? `de ${call.from}` : '';
  $('in-call').hidden = !(call && !call.ringing);
  $('phone-hangup').hidden = live;
  $('mute').setAttribute('aria-pressed', String(Boolean(call && call.muted)));
  $('mute').textContent = call && call.muted ? 'Microfone desligado' : 'Silenciar';
}

function tick() {
  const live = current && current.live;
  if (live) $('live-timer').textContent = formatDuration(talkSeconds(live));
}

/** The one thing keeping calls from working, and what to do about it. */
function renderProblem(s) {
  let title = null;
  let text = '';
  let kind = '';
  if (s.host === HOST_STATE.NOT_INSTALLED) {
    kind = 'host_not_installed';
    title = 'Instale o Disca neste computador';
    text = 'O Disca liga por um pequeno programa neste computador. São três passos:';
  } else if (s.host === HOST_STATE.FAILED) {
    kind = 'host_failed';
    title = 'O disca-host parou';
    text = `Tentando de novo automaticamente. ${s.hostError || ''}`.trim();
  } else if (s.host === HOST_STATE.CONNECTING) {
    kind = 'connecting';
    title = 'Conectando ao disca-host…';
  } else if (s.loggedIn === false) {
    kind = 'not_logged_in';
    title = 'Entre no Disca';
    text = s.signIn.error || 'Entre com o e-mail e a senha que você criou pelo convite do Disca.';
  } else if (s.backend === BACKEND_STATE.UNREACHABLE) {
    kind = 'backend_unreachable';
    title = 'Sem contato com o servidor do Disca';
    const tried = s.backendUrl ? ` Endereço tentado: ${s.backendUrl}.` : '';
    text = `${(s.problem && s.problem.message) || ''}${tried} Tentando de novo automaticamente; se continuar, fale com o administrador do Disca da sua empresa.`.trim();
  }
  $('problem').hidden = !title;
  $('problem').dataset.kind = kind;
  $('problem-title').textContent = title || '';
  $('problem-text').textContent = text;
  renderSignIn(s, kind === 'not_logged_in');
  renderInstall(s, kind === 'host_not_installed');
}

/** Host missing: the steps, and the download from the company's server. */
function renderInstall(s, shown) {
  $('install-steps').hidden = !shown;
  $('install').hidden = !shown;
  if (!shown) return;
  $('install-os').textContent = system().name;
  const known = knownAddress(s);
  $('install-url').hidden = Boolean(known);
  document.querySelector('label[for="install-url"]').hidden = Boolean(known);
}

/** "Entrar": the company's address is asked once (or preset by IT), then
 *  the sign-in page opens in a tab. */
function renderSignIn(s, shown) {
  $('sign-in').hidden = !shown;
  if (!shown) return;
  const known = s.presetBackendUrl || s.backendUrl;
  const ask = !known || (s.signIn.askAddress && !s.presetBackendUrl);
  $('backend-url').hidden = !ask;
  document.querySelector('label[for="backend-url"]').hidden = !ask;
  if (ask && !$('backend-url').value && known) $('backend-url').value = known;
  $('sign-in-address').hidden = ask;
  $('sign-in-address').textContent = known ? `Em ${known}` : '';
  $('sign-in-button').disabled = s.signIn.pending;
  $('sign-in-waiting').hidden = !s.signIn.pending;
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  setTimeout(() => {
    $('error').hidden = true;
  }, 6000);
}
