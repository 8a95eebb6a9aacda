//! A call through the real backend, a real Asterisk 22 and SIPp peers, then
//! its note in RD Station CRM (the stand-in, over HTTP): the tracker's end
//! of the call is what queues the note.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::system::{Backend, LEAD, Lab};
use rdstation_standin::{Config, StandIn};
use reqwest::StatusCode;
use serde_json::json;

/// Demo seed of the stand-in: Ana's token and user, and one of her deals.
const ANA_TOKEN: &str = "a3f9c2e17b4d48e6a0c5d2f1";
const ANA: &str = "64b7f0c2a1e4d30000000a01";
const AURORA: &str = "64b7f0c2a1e4d30000000d01";

#[tokio::test]
async fn an_answered_call_becomes_one_note_on_its_deal() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(3),
        },
    )
    .await;
    let standin = StandIn::start(Config::default()).await.unwrap();
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    backend
        .connect_crm("acme", &standin.v1_base(), ANA_TOKEN, &[("acme-1001", ANA)])
        .await;
    let (status, call) = backend
        .place(
            "acme-1001",
            json!({"to": LEAD, "context": {"deal_id": AURORA, "contact_name": "Mariana Costa"}}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap().to_owned();
    let call = backend
        .wait_for("acme-1001", &id, "written to the CRM", |c| {
            c["crm"]["state"] == "delivered"
        })
        .await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    let notes = standin.notes(AURORA);
    assert_eq!(notes.len(), 1, "exactly one note");
    let note = &notes[0];
    assert_eq!(call["crm"]["note_id"], note.id.as_str());
    assert_eq!(note.user_id, ANA);
    let text = &note.text;
    for line in [
        "Ligação pelo Disca: atendida\n",
        "Vendedor: acme-1001\n",
        "Número: (11) 98765-4321\n",
        "Contato: Mariana Costa\n",
        "Motivo do encerramento: desligamento normal (causa 16)\n",
        &format!("Gravação: arquivo acme-{id}.wav no servidor do Disca\n"),
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    let talk = call["talk_seconds"].as_i64().unwrap();
    assert!(
        text.contains(&format!("Duração da conversa: {talk} s\n")),
        "{text}"
    );
    assert!(text.ends_with(&format!("ID da ligação no Disca: {id}")));
}
