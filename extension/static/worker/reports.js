// After the call, the salesperson's word on it: when a call they placed
// ends, the popup offers a short form (the company's outcomes, a note, a
// follow-up date); what they send goes through disca-host to the backend
// (`call.report`), which puts it in the call's note in RD Station and
// makes the follow-up a task on the deal. Keeps `state.report` — the call
// being reported, the outcomes to choose from, and what the backend said —
// for the popup.
import { HOST_MESSAGE, REQUEST } from '../shared/protocol.js';

/**
 * @param {object} options
 * @param {object} options.state the popup's state, changed in place
 * @param {{request: Function}} options.host
 * @param {() => void} options.publish the state changed
 */
export function createReports({ state, host, publish }) {
  /** The company's outcomes, once read (they rarely change). */
  let dispositions = null;

  async function loadDispositions() {
    const reply = await host.request({ type: REQUEST.DISPOSITIONS_GET });
    if (reply.type !== HOST_MESSAGE.DISPOSITIONS) return;
    dispositions = reply.dispositions;
    if (state.report && !state.report.dispositions.length) {
      state.report.dispositions = dispositions;
      publish();
    }
  }

  /** A call of the salesperson's ended: offer the form (not for a call
   *  that never reached the PBX: nothing happened). */
  function callEnded(call) {
    if (call.not_placed) return;
    state.report = { callId: call.id, dispositions: dispositions || [], saving: false, saved: null };
    publish();
    if (!dispositions) loadDispositions();
  }

  /** Sends the form; `reply` shows an error in the popup. */
  async function send(form, reply) {
    const report = state.report;
    if (!report || report.callId !== form.callId || report.saving) return;
    const body = { note: typeof form.note === 'string' ? form.note : '' };
    if (form.disposition) body.disposition = String(form.disposition);
    if (form.followUpAt) body.follow_up_at = String(form.followUpAt);
    report.saving = true;
    publish();
    const answer = await host.request({ type: REQUEST.CALL_REPORT, call_id: report.callId, report: body });
    report.saving = false;
    if (answer.type === HOST_MESSAGE.REPORT_SAVED) report.saved = answer.saved;
    else reply(answer.error ? answer.error.message : 'Não foi possível salvar. Tente de novo.');
    publish();
  }

  /** "Agora não": the form goes away. */
  function dismiss() {
    state.report = null;
    publish();
  }

  return { callEnded, send, dismiss };
}
