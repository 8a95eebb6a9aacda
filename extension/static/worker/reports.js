// After the call, the salesperson's word on it: when a call they placed
// ends, the popup offers a short form (the company's outcomes, a note, a
// follow-up date); what they send goes through disca-host to the backend
// (`call.report`), which puts it in the call's note in RD Station and
// makes the follow-up a task on the deal. After a no-answer, the deal's
// other phones (from RD Station, through the backend) are offered to try
// next. Keeps `state.report` — the call being reported, the outcomes to
// choose from, the other phones, and what the backend said — for the popup.
import { HOST_MESSAGE, OUTCOME, REQUEST } from '../shared/protocol.js';

/** Outcomes after which the lead may be reached on another phone. */
const UNREACHED = [OUTCOME.NO_ANSWER, OUTCOME.BUSY, OUTCOME.REJECTED, OUTCOME.FAILED];

/**
 * @param {object} options
 * @param {object} options.state the popup's state, changed in place
 * @param {{request: Function}} options.host
 * @param {() => void} options.publish the state changed
 * @param {(number: string, context: object) => Promise<object>} options.place places a call as a click does
 */
export function createReports({ state, host, publish, place }) {
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
    state.report = {
      callId: call.id,
      context: call.context || {},
      dispositions: dispositions || [],
      otherPhones: [],
      saving: false,
      saved: null,
    };
    publish();
    if (!dispositions) loadDispositions();
    if (UNREACHED.includes(call.outcome)) loadOtherPhones(call.id);
  }

  /** The deal's other phones, to try next. */
  async function loadOtherPhones(callId) {
    const reply = await host.request({ type: REQUEST.CALL_OTHER_PHONES, call_id: callId });
    if (reply.type !== HOST_MESSAGE.OTHER_PHONES || !state.report || state.report.callId !== callId) return;
    state.report.otherPhones = reply.phones;
    // A call to one of them goes on the deal they were read from.
    if (reply.deal_id) state.report.context = { ...state.report.context, deal_id: reply.deal_id };
    publish();
  }

  /** "Ligar" on another phone of the deal: only a number offered, dialled
   *  as shown, with the deal of the call it follows. */
  async function callOther(number, reply) {
    const report = state.report;
    const phone = report && report.otherPhones.find((p) => p.number === number);
    if (!phone) return;
    const context = { ...report.context };
    if (phone.contact) context.contact_name = phone.contact;
    else delete context.contact_name;
    delete context.contact_id;
    const answer = await place(phone.number, context);
    if (answer.type === HOST_MESSAGE.ERROR) reply(answer.error.message);
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

  return { callEnded, send, dismiss, callOther };
}
