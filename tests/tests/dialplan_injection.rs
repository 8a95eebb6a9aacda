//! The dialplan against an attacker holding the backend's AMI credentials
//! (write = originate, call, reporting), on the real Asterisk over a raw AMI
//! session: the internal contexts refuse a channel an Originate starts in
//! them, no argument can smuggle a shell command into MixMonitor (whatever
//! the priority a channel starts at), and the Originate applications that
//! could run a command are refused by Asterisk itself.
//!
//! Every attempt tries to run `touch /tmp/<marker>…` as the Asterisk user
//! (root, inside the chroot); a test fails if any such file appears.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use disca_testkit::{
    AmiMessage, AmiSession, AsteriskRoot, PeerBehavior, SipPeer, TestPbx, TestPbxOptions,
    free_udp_port,
};

const LEAD_E164: &str = "+5511987654321";
const PATIENCE: Duration = Duration::from_secs(30);
/// An agent "phone" that answers at once and stays up: a Local channel into
/// the test overlay's `disca-test-local-agents`.
const ANSWERING_CHANNEL: &str = "Local/acme-1001@disca-test-local-agents";
/// "Facility rejected": the dialplan's cause for a refused way in.
const REFUSED: &str = "29";

/// A PBX with its agents' phone and the trunk's far end, and the marker
/// files an injected command would create.
struct Bed {
    pbx: TestPbx,
    _agents: SipPeer,
    _trunk: SipPeer,
    tmp: PathBuf,
    marker: String,
}

impl Bed {
    async fn start() -> Bed {
        let root = AsteriskRoot::locate().expect("provisioned Asterisk root");
        let (agent_port, trunk_port) = (free_udp_port(), free_udp_port());
        let agents = SipPeer::start(agent_port, PeerBehavior::AnswerAndWait)
            .await
            .expect("agents' SIPp");
        let trunk = SipPeer::start(
            trunk_port,
            PeerBehavior::AnswerThenHangup {
                talk: Duration::from_millis(300),
            },
        )
        .await
        .expect("trunk's SIPp");
        let options = TestPbxOptions {
            agent_sip_port: agent_port,
            trunk_sip_port: trunk_port,
            lead_ring_timeout_secs: 5,
            extra_agents: 0,
            websocket: false,
        };
        let pbx = TestPbx::start(&root, options)
            .await
            .expect("Asterisk started");
        Bed {
            pbx,
            _agents: agents,
            _trunk: trunk,
            tmp: root.host_path("/tmp"),
            marker: format!("disca-injection-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    async fn login(&self) -> AmiSession {
        let mut ami = AmiSession::connect(self.pbx.ami_addr)
            .await
            .expect("AMI connection");
        ami.login(&self.pbx.ami_username, &self.pbx.ami_secret)
            .await
            .expect("AMI login");
        ami
    }

    /// A value that, split at its commas, gives MixMonitor a post-recording
    /// command creating `/tmp/<marker>-<tag>` (and whatever name the rest of
    /// the argument makes, which starts with the marker too).
    fn injection(&self, tag: &str) -> String {
        format!(
            "x,b,touch /tmp/{m}-{tag} /tmp/{m}-{tag}-tail",
            m = self.marker
        )
    }

    /// Fails if an injected command ran: no file named after the marker
    /// may exist in the chroot's /tmp (removed if one does).
    async fn assert_no_command_ran(&self) {
        // MixMonitor runs its command when the recording closes, just
        // after the channel hung up.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ran: Vec<String> = std::fs::read_dir(&self.tmp)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(&self.marker))
                    .collect()
            })
            .unwrap_or_default();
        for name in &ran {
            let _ = std::fs::remove_file(self.tmp.join(name));
        }
        assert!(
            ran.is_empty(),
            "an injected shell command ran on the PBX: it created {ran:?} in {}",
            self.tmp.display()
        );
    }

    /// Waits until `needle` is in Asterisk's messages.log.
    async fn assert_logged(&self, needle: &str) {
        let log = self.pbx.instance().messages_log();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(needle) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {needle:?} in {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An AMI `Variable:` header for `name=value`: Asterisk splits a header's
/// value at commas unless they are escaped.
fn variable(name: &str, value: &str) -> String {
    format!("{name}={}", value.replace(',', "\\,"))
}

/// Sends an Originate; returns Asterisk's response.
async fn originate(ami: &mut AmiSession, headers: &[(&str, &str)]) -> AmiMessage {
    let mut all = vec![("Async", "true"), ("Timeout", "10000")];
    all.extend_from_slice(headers);
    ami.action("Originate", &all)
        .await
        .expect("Originate answered")
}

/// Reads events until every channel in `ids` (Uniqueids) has hung up;
/// returns each one's hangup cause.
async fn hangup_causes(ami: &mut AmiSession, ids: &[&str]) -> HashMap<String, String> {
    let mut causes = HashMap::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while ids.iter().any(|id| !causes.contains_key(*id)) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = ami.next_event(remaining).await.unwrap_or_else(|e| {
            panic!("{e:#}: channels {ids:?} did not all hang up (seen: {causes:?})")
        });
        if event.is_event("Hangup")
            && let Some(id) = event.get("Uniqueid").filter(|id| ids.contains(id))
        {
            causes.insert(id.to_owned(), event.get("Cause").unwrap_or("").to_owned());
        }
    }
    causes
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The reported attack and its relatives: an Originate that starts a channel
/// in `disca-record` or `disca-dial` (with a Local channel, or Context/Exten)
/// with crafted variables is refused by the dialplan's guard, with a Log
/// line; `disca-dial-result` no longer exists; crafted values that do come
/// in through a tenant's context are refused too; no command runs.
#[tokio::test]
async fn internal_contexts_refuse_an_originate_and_run_no_command() {
    let bed = Bed::start().await;
    let mut ami = bed.login().await;
    let mut expected: Vec<(String, &str, &str)> = Vec::new();

    // disca-record through a Local channel: its ;2 half runs the context
    // with the variables of the Originate.
    let (one, two) = (new_id(), new_id());
    let arg1 = variable("ARG1", &bed.injection("record-local"));
    let response = originate(
        &mut ami,
        &[
            ("Channel", "Local/s@disca-record"),
            ("Context", "disca-test-local-agents"),
            ("Exten", "acme-1001"),
            ("Priority", "1"),
            ("ChannelId", &one),
            ("OtherChannelId", &two),
            ("Variable", &arg1),
        ],
    )
    .await;
    assert!(response.is_success(), "{response}");
    expected.push((two, REFUSED, "disca-record through a Local channel"));

    // disca-record as the Originate's Context, once the channel answered.
    let id = new_id();
    let arg1 = variable("ARG1", &bed.injection("record-context"));
    let response = originate(
        &mut ami,
        &[
            ("Channel", ANSWERING_CHANNEL),
            ("Context", "disca-record"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("ChannelId", &id),
            ("Variable", &arg1),
        ],
    )
    .await;
    assert!(response.is_success(), "{response}");
    expected.push((id, REFUSED, "disca-record as the Context"));

    // disca-dial, both ways, with a full set of tenant settings whose
    // tenant slug carries the command.
    let tenant = variable("DISCA_TENANT", &bed.injection("dial"));
    let settings = [
        variable("ARG1", LEAD_E164),
        variable("ARGC", "1"),
        tenant,
        variable("DISCA_TRUNK", "acme-trunk"),
        variable("DISCA_ALLOW", "^[+]"),
        variable("DISCA_NUMBER_FORMAT", "e164"),
        variable("DISCA_CALLER_ID", "+551130000000"),
        variable("DISCA_LEAD_RING_SECS", "5"),
    ];
    let (one, two) = (new_id(), new_id());
    let mut headers = vec![
        ("Channel", "Local/s@disca-dial"),
        ("Context", "disca-test-local-agents"),
        ("Exten", "acme-1001"),
        ("Priority", "1"),
        ("ChannelId", one.as_str()),
        ("OtherChannelId", two.as_str()),
    ];
    headers.extend(settings.iter().map(|v| ("Variable", v.as_str())));
    let response = originate(&mut ami, &headers).await;
    assert!(response.is_success(), "{response}");
    expected.push((two, REFUSED, "disca-dial through a Local channel"));
    let id = new_id();
    let mut headers = vec![
        ("Channel", ANSWERING_CHANNEL),
        ("Context", "disca-dial"),
        ("Exten", "s"),
        ("Priority", "1"),
        ("ChannelId", id.as_str()),
    ];
    headers.extend(settings.iter().map(|v| ("Variable", v.as_str())));
    let response = originate(&mut ami, &headers).await;
    assert!(response.is_success(), "{response}");
    expected.push((id, REFUSED, "disca-dial as the Context"));

    // Dial's U option from a channel that is not the lead's (Originate
    // Application: Dial): the subroutine's caller is not a trunk's channel.
    let response = originate(
        &mut ami,
        &[
            ("Channel", ANSWERING_CHANNEL),
            ("Application", "Dial"),
            (
                "Data",
                "Local/acme-1002@disca-test-local-agents,,U(disca-record^dialed)",
            ),
        ],
    )
    .await;
    assert!(response.is_success(), "{response}");

    // Through a tenant's context (the backend's way in): an Exten with a
    // comma (a second Gosub argument) is not a number; a call id (ChannelId)
    // with characters that would split the recording's name is refused.
    let id = new_id();
    let exten = format!("{LEAD_E164},b");
    let response = originate(
        &mut ami,
        &[
            ("Channel", "PJSIP/acme-1001"),
            ("Context", "disca-acme-outbound"),
            ("Exten", &exten),
            ("Priority", "1"),
            ("ChannelId", &id),
        ],
    )
    .await;
    assert!(response.is_success(), "{response}");
    expected.push((id, "28", "an Exten with a comma"));
    let id = format!("{}^b^c,d", new_id());
    let response = originate(
        &mut ami,
        &[
            ("Channel", "PJSIP/acme-1002"),
            ("Context", "disca-acme-outbound"),
            ("Exten", LEAD_E164),
            ("Priority", "1"),
            ("ChannelId", &id),
        ],
    )
    .await;
    assert!(response.is_success(), "{response}");
    expected.push((id, REFUSED, "a call id outside its alphabet"));

    let ids: Vec<&str> = expected.iter().map(|(id, _, _)| id.as_str()).collect();
    let causes = hangup_causes(&mut ami, &ids).await;
    bed.assert_no_command_ran().await;
    for (id, cause, what) in &expected {
        assert_eq!(
            causes.get(id).map(String::as_str),
            Some(*cause),
            "{what}: hangup cause of {id}"
        );
    }

    // The mapping of Dial's outcome is not a context an Originate can
    // enter any more.
    for exten in ["CHANUNAVAIL", "BUSY"] {
        let hangup_cause = variable("HANGUPCAUSE", &bed.injection("result"));
        let response = originate(
            &mut ami,
            &[
                ("Channel", ANSWERING_CHANNEL),
                ("Context", "disca-dial-result"),
                ("Exten", exten),
                ("Priority", "1"),
                ("Variable", &hangup_cause),
            ],
        )
        .await;
        assert_eq!(
            response.get("Message"),
            Some("Extension does not exist."),
            "disca-dial-result,{exten}:\n{response}"
        );
    }

    bed.assert_logged("entered disca-record other than by Dial's U option")
        .await;
    bed.assert_logged(r#"(caller: "disca-test-local-agents"): refused"#)
        .await;
    bed.assert_logged("entered disca-dial other than by a Gosub from a tenant's outbound context")
        .await;
    bed.assert_logged("refused unsafe call id").await;
    bed.assert_logged("refused malformed number").await;
    bed.assert_no_command_ran().await;
}

/// Originate's Priority header (like Redirect) starts a channel at any
/// priority, past the guard: at every priority of the internal contexts, with
/// every variable they read set to carry a command, none runs.
#[tokio::test]
async fn no_priority_of_an_internal_context_runs_an_injected_command() {
    let bed = Bed::start().await;
    let mut ami = bed.login().await;
    let injection = bed.injection("priority");
    // What the internal contexts read. The trunk and number are real, so
    // that a channel started at Dial's priority reaches the lead, who
    // answers: the recording subroutine then runs with what this channel
    // gave it.
    let variables: Vec<String> = [
        ("ARG1", injection.as_str()),
        ("ARGC", "1"),
        ("NUMBER", LEAD_E164),
        ("TRUNK_NUMBER", LEAD_E164),
        ("DISCA_TENANT", &injection),
        ("DISCA_TRUNK", "acme-trunk"),
        ("DISCA_ALLOW", "^[+]"),
        ("DISCA_NUMBER_FORMAT", &injection),
        ("DISCA_COUNTRY_CODE", &injection),
        ("DISCA_NATIONAL_PREFIX", &injection),
        ("DISCA_CALLER_ID", &injection),
        ("DISCA_LEAD_RING_SECS", &format!("5,{injection}")),
        ("FORMAT", &injection),
        ("SETTING", "DISCA_TENANT"),
        ("CC", &injection),
        ("CC_LEN", &injection),
        ("STATUS", &injection),
        ("CAUSE", &injection),
    ]
    .iter()
    .map(|(name, value)| variable(name, value))
    .collect();

    let mut started = Vec::new();
    for context in ["disca-record", "disca-dial"] {
        for priority in 1.. {
            let id = new_id();
            let priority_text = priority.to_string();
            let mut headers = vec![
                ("Channel", ANSWERING_CHANNEL),
                ("Context", context),
                ("Exten", "s"),
                ("Priority", priority_text.as_str()),
                ("ChannelId", id.as_str()),
            ];
            headers.extend(variables.iter().map(|v| ("Variable", v.as_str())));
            let response = originate(&mut ami, &headers).await;
            if response.get("Message") == Some("Extension does not exist.") {
                assert!(priority > 2, "{context} has priorities 1 and 2");
                break;
            }
            assert!(response.is_success(), "{context},s,{priority}: {response}");
            started.push(id);
        }
    }
    let ids: Vec<&str> = started.iter().map(String::as_str).collect();
    hangup_causes(&mut ami, &ids).await;
    bed.assert_no_command_ran().await;
}

/// Originate applications that could run a command are Asterisk's to refuse
/// for a user without the `system` class: MixMonitor (whose third argument
/// is a shell command) and System; and the MixMonitor action itself.
#[tokio::test]
async fn originate_applications_that_run_commands_are_refused() {
    let bed = Bed::start().await;
    let mut ami = bed.login().await;
    for (application, data) in [
        (
            "MixMonitor",
            format!("x.wav,b,touch /tmp/{}-mixmonitor", bed.marker),
        ),
        ("MixMonitor", "x.wav".to_owned()),
        ("System", format!("touch /tmp/{}-system", bed.marker)),
    ] {
        let response = originate(
            &mut ami,
            &[
                ("Channel", ANSWERING_CHANNEL),
                ("Application", application),
                ("Data", &data),
            ],
        )
        .await;
        assert!(
            !response.is_success()
                && response
                    .get("Message")
                    .is_some_and(|m| m.starts_with("Originate Access Forbidden")),
            "Originate Application: {application} must be refused:\n{response}"
        );
    }
    let response = ami
        .action(
            "MixMonitor",
            &[
                ("Channel", "PJSIP/acme-1001"),
                ("File", "x.wav"),
                ("Command", &format!("touch /tmp/{}-action", bed.marker)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        response.get("Message"),
        Some("Permission denied"),
        "{response}"
    );
    bed.assert_no_command_ran().await;
}
