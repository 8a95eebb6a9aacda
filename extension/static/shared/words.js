// What the salesperson reads about calls, in Brazilian Portuguese: call
// states and outcomes, the browser phone's readiness (from disca-protocol's
// words, through the generated protocol.js), durations and numbers. Shared
// by the service worker (badge title, notifications) and the popup.
import {
  ENDED_TEXT,
  MICROPHONE,
  MICROPHONE_TEXT,
  NOT_PLACED_TEXT,
  OUTCOME,
  OUTCOME_TEXT,
  REGISTRATION,
  REGISTRATION_TEXT,
  STATE_TEXT,
} from './protocol.js';

export { OUTCOME_TEXT, STATE_TEXT };

/** `75` → `1:15`, `3725` → `1:02:05`. */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** The call's number as people read it: the backend's display form
 *  (national format for Brazilian numbers), else E.164. */
export function numberOf(call) {
  return call.to_display || call.to || '';
}

/** Seconds the call has been connected, at `now` (ms since epoch). */
export function talkSeconds(call, now = Date.now()) {
  if (typeof call.talk_seconds === 'number') return call.talk_seconds;
  if (!call.lead_answered_at) return 0;
  return Math.max(0, (now - Date.parse(call.lead_answered_at)) / 1000);
}

/**
 * "Atendida · 2:15" / "Não atendida"; "Atendida · ≥ 0:20 (duração não
 * confirmada)" when the call's end was not seen (its durations are lower
 * bounds); "Não chegou à central" when the call was never placed.
 */
export function outcomeLine(call) {
  if (call.not_placed) return NOT_PLACED_TEXT;
  const outcome = OUTCOME_TEXT[call.outcome] || ENDED_TEXT;
  if (call.outcome !== OUTCOME.ANSWERED) return outcome;
  const talk = formatDuration(talkSeconds(call));
  return call.durations_estimated
    ? `${outcome} · ≥ ${talk} (duração não confirmada)`
    : `${outcome} · ${talk}`;
}

/** Whether the browser phone (`state.phone`) can take a call: registered,
 *  microphone allowed. */
export function phoneReady(phone) {
  const state = phone && phone.state;
  return Boolean(state && state.registration === REGISTRATION.REGISTERED && state.microphone === MICROPHONE.GRANTED);
}

/**
 * The one line about the browser phone (`state.phone`): what keeps it from
 * taking a call (registration first, then the microphone), or "Telefone
 * pronto".
 */
export function phoneLine(phone) {
  const state = phone && phone.state;
  if (!state) return REGISTRATION_TEXT[REGISTRATION.CONNECTING];
  if (state.registration !== REGISTRATION.REGISTERED) return REGISTRATION_TEXT[state.registration] || '';
  if (state.microphone !== MICROPHONE.GRANTED) return MICROPHONE_TEXT[state.microphone] || '';
  return REGISTRATION_TEXT[REGISTRATION.REGISTERED];
}
