// What the salesperson reads about calls, in Brazilian Portuguese: call
// states, outcomes, durations and numbers. Shared by the service worker
// (badge title, notifications) and the popup.

export const STATE_TEXT = {
  queued: 'Preparando a ligação…',
  ringing_agent: 'Tocando o seu telefone…',
  dialing_lead: 'Chamando o lead…',
  ringing_lead: 'Tocando no lead…',
  connected: 'Em ligação',
  ended: 'Ligação encerrada',
};

export const OUTCOME_TEXT = {
  answered: 'Atendida',
  no_answer: 'Não atendida',
  busy: 'Ocupado',
  rejected: 'Recusada',
  failed: 'Falhou',
  agent_no_answer: 'Você não atendeu o seu telefone',
  canceled: 'Cancelada',
};

/** `75` → `1:15`, `3725` → `1:02:05`. */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** A Brazilian E.164 number in national format; others as given. */
export function formatNumber(e164) {
  const match = /^\+55(\d+)$/.exec(e164 || '');
  if (!match) return e164 || '';
  const d = match[1];
  if (/^(800|300|303|500|900)\d{7}$/.test(d)) {
    return `0${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}`;
  }
  if (/^\d{8}$/.test(d)) return `${d.slice(0, 4)}-${d.slice(4)}`;
  if (/^\d{10,11}$/.test(d)) {
    const local = d.slice(2);
    return `(${d.slice(0, 2)}) ${local.slice(0, local.length - 4)}-${local.slice(-4)}`;
  }
  return e164;
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
  if (call.not_placed) return 'Não chegou à central';
  const outcome = OUTCOME_TEXT[call.outcome] || 'Encerrada';
  if (call.outcome !== 'answered') return outcome;
  const talk = formatDuration(talkSeconds(call));
  return call.durations_estimated
    ? `${outcome} · ≥ ${talk} (duração não confirmada)`
    : `${outcome} · ${talk}`;
}
