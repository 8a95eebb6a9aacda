//! The client against a scripted fake AMI server on 127.0.0.1.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;
use tokio_util::codec::Framed;

use disca_ami::{
    Action, AmiCodec, AmiError, Client, ClientEvent, Config, Message, Originate, Problem,
};

const SECRET: &str = "fake-secret-Zq81";
const CHALLENGE: &str = "840917246";
/// Long enough for anything that should happen; tests fail rather than hang.
const WAIT: Duration = Duration::from_secs(5);

/// One accepted connection, seen from the server side.
struct FakeConn {
    framed: Framed<TcpStream, AmiCodec>,
}

impl FakeConn {
    async fn accept(listener: &TcpListener) -> FakeConn {
        let (stream, _) = timeout(WAIT, listener.accept())
            .await
            .expect("client connects")
            .unwrap();
        let mut conn = FakeConn {
            framed: Framed::new(stream, AmiCodec::new()),
        };
        conn.write("Asterisk Call Manager/11.0.0\r\n").await;
        conn
    }

    /// Accepts and answers the MD5 challenge login; returns the `Login` action.
    async fn accept_login(listener: &TcpListener) -> (FakeConn, Message) {
        let mut conn = FakeConn::accept(listener).await;
        let login = conn.login().await;
        (conn, login)
    }

    async fn login(&mut self) -> Message {
        let challenge = self.next_action().await;
        assert_eq!(challenge.get("Action"), Some("Challenge"));
        assert_eq!(challenge.get("AuthType"), Some("MD5"));
        self.respond(
            &challenge,
            &format!("Response: Success\r\nChallenge: {CHALLENGE}\r\n"),
        )
        .await;
        let login = self.next_action().await;
        assert_eq!(login.get("Action"), Some("Login"));
        if login.get("Key") == Some(&md5_key(CHALLENGE, SECRET)) {
            self.respond(
                &login,
                "Response: Success\r\nMessage: Authentication accepted\r\n",
            )
            .await;
            self.write(
                "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n",
            )
            .await;
        } else {
            self.respond(
                &login,
                "Response: Error\r\nMessage: Authentication failed\r\n",
            )
            .await;
        }
        login
    }

    async fn next_action(&mut self) -> Message {
        timeout(WAIT, self.framed.next())
            .await
            .expect("client sends an action")
            .expect("connection open")
            .unwrap()
    }

    /// Reads actions, answering `Ping`s, until one named `name`.
    async fn expect_action(&mut self, name: &str) -> Message {
        loop {
            let action = self.next_action().await;
            if action.get("Action") == Some(name) {
                return action;
            }
            assert_eq!(action.get("Action"), Some("Ping"), "unexpected action");
            self.respond(&action, "Response: Success\r\nPing: Pong\r\n")
                .await;
        }
    }

    /// Writes `head` with the action's ActionID added, ending the message.
    async fn respond(&mut self, action: &Message, head: &str) {
        let id = action.action_id().expect("actions carry an ActionID");
        self.write(&format!("{head}ActionID: {id}\r\n\r\n")).await;
    }

    async fn write(&mut self, text: &str) {
        self.framed
            .get_mut()
            .write_all(text.as_bytes())
            .await
            .unwrap();
    }

    /// Waits until the client closes the connection.
    async fn closed(mut self) {
        loop {
            match timeout(WAIT, self.framed.next())
                .await
                .expect("client closes")
            {
                None | Some(Err(_)) => return,
                Some(Ok(action)) => assert_eq!(action.get("Action"), Some("Ping")),
            }
        }
    }
}

fn md5_key(challenge: &str, secret: &str) -> String {
    hex::encode(Md5::digest(format!("{challenge}{secret}")))
}

fn config(addr: std::net::SocketAddr) -> Config {
    Config {
        ping_interval: Duration::ZERO,
        response_timeout: Duration::from_secs(2),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(50),
        connect_timeout: Duration::from_secs(1),
        ..Config::new(&addr.to_string(), "disca", SECRET)
    }
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn next_event(events: &mut UnboundedReceiver<ClientEvent>) -> ClientEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("an event arrives")
        .expect("channel open")
}

async fn expect_connected(events: &mut UnboundedReceiver<ClientEvent>) {
    match next_event(events).await {
        ClientEvent::Connected => {}
        other => panic!("expected Connected, got {other:?}"),
    }
}

async fn expect_disconnected(events: &mut UnboundedReceiver<ClientEvent>) -> String {
    loop {
        match next_event(events).await {
            ClientEvent::Disconnected { reason } => return reason,
            ClientEvent::Message(_) => {}
            ClientEvent::Connected => panic!("Connected before Disconnected"),
        }
    }
}

async fn expect_event(events: &mut UnboundedReceiver<ClientEvent>) -> Message {
    match next_event(events).await {
        ClientEvent::Message(message) => message,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Starts a client and logs it in on the fake server.
async fn connected() -> (
    Client,
    UnboundedReceiver<ClientEvent>,
    FakeConn,
    TcpListener,
) {
    let listener = listener().await;
    let (client, mut events) = Client::start(config(listener.local_addr().unwrap()));
    let (conn, _) = FakeConn::accept_login(&listener).await;
    expect_connected(&mut events).await;
    let booted = expect_event(&mut events).await;
    assert_eq!(booted.event_name(), Some("FullyBooted"));
    (client, events, conn, listener)
}

fn ping() -> Action {
    Action::new("Ping").unwrap()
}

#[tokio::test]
async fn logs_in_with_md5_challenge_without_sending_the_secret() {
    let listener = listener().await;
    let (client, mut events) = Client::start(config(listener.local_addr().unwrap()));
    assert!(!client.is_connected());
    let (_conn, login) = FakeConn::accept_login(&listener).await;
    assert_eq!(login.get("AuthType"), Some("MD5"));
    assert_eq!(login.get("Username"), Some("disca"));
    assert_eq!(login.get("Key"), Some(&*md5_key(CHALLENGE, SECRET)));
    assert!(login.get("Secret").is_none());
    assert!(login.headers().iter().all(|(_, v)| !v.contains(SECRET)));
    expect_connected(&mut events).await;
    assert!(client.is_connected());
}

#[tokio::test]
async fn failed_login_is_logged_without_the_secret_and_retried() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let logs = Arc::clone(&logs);
        move || LogWriter(Arc::clone(&logs))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let listener = listener().await;
    let mut config = config(listener.local_addr().unwrap());
    config.secret = "wrong-secret-Xy7".into();
    let (client, mut events) = Client::start(config.clone());
    for _ in 0..3 {
        let (conn, login) = FakeConn::accept_login(&listener).await;
        assert_ne!(login.get("Key"), Some(&*md5_key(CHALLENGE, SECRET)));
        drop(conn);
    }
    assert!(!client.is_connected());
    assert!(
        events.try_recv().is_err(),
        "no Connected after a failed login"
    );
    drop(client);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("Authentication failed"), "{logs}");
    assert!(!logs.contains("wrong-secret-Xy7"), "{logs}");
    assert!(!format!("{config:?}").contains("wrong-secret-Xy7"));
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn answers_are_matched_by_action_id_even_out_of_order() {
    let (client, _events, mut conn, _listener) = connected().await;
    let first = client.send(Action::new("First").unwrap().header("N", "1").unwrap());
    let second = client.send(Action::new("Second").unwrap().header("N", "2").unwrap());
    let server = async {
        let a = conn.next_action().await;
        let b = conn.next_action().await;
        assert_ne!(a.action_id(), b.action_id());
        // Answer the later one first.
        for action in [&b, &a] {
            let n = action.get("N").unwrap();
            conn.respond(action, &format!("Response: Success\r\nAnswerTo: {n}\r\n"))
                .await;
        }
        // An answer nobody waits for, and one without ActionID, are ignored.
        conn.write("Response: Success\r\nActionID: stranger\r\n\r\nResponse: Success\r\n\r\n")
            .await;
        conn
    };
    let (first, second, mut conn) = tokio::join!(first, second, server);
    assert_eq!(first.unwrap().get("AnswerTo"), Some("1"));
    assert_eq!(second.unwrap().get("AnswerTo"), Some("2"));

    let third = client.send(ping());
    let server = async {
        let action = conn.next_action().await;
        conn.respond(&action, "Response: Success\r\nPing: Pong\r\n")
            .await;
    };
    let (third, ()) = tokio::join!(third, server);
    assert_eq!(third.unwrap().get("Ping"), Some("Pong"));
}

#[tokio::test]
async fn error_response_is_rejected_with_its_message() {
    let (client, _events, mut conn, _listener) = connected().await;
    let hangup = client.hangup("PJSIP/nobody-00000000", Some(16));
    let server = async {
        let action = conn.next_action().await;
        assert_eq!(action.get("Action"), Some("Hangup"));
        assert_eq!(action.get("Channel"), Some("PJSIP/nobody-00000000"));
        assert_eq!(action.get("Cause"), Some("16"));
        conn.respond(&action, "Response: Error\r\nMessage: No such channel\r\n")
            .await;
    };
    let (result, ()) = tokio::join!(hangup, server);
    match result {
        Err(AmiError::Rejected { message }) => assert_eq!(message, "No such channel"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn hangup_refuses_a_channel_pattern_without_sending() {
    let (client, _events, conn, _listener) = connected().await;
    match client.hangup("/.*/", None).await {
        Err(AmiError::InvalidValue(err)) => assert_eq!(err.problem(), Problem::ChannelPattern),
        other => panic!("{other:?}"),
    }
    drop(client);
    // Nothing but the close reaches the server.
    conn.closed().await;
}

#[tokio::test]
async fn originate_is_async_and_its_originate_response_reaches_the_consumer() {
    let (client, mut events, mut conn, _listener) = connected().await;
    let req = Originate {
        channel: "PJSIP/agent-1001".into(),
        context: "outbound".into(),
        exten: "+5511987654321".into(),
        priority: 1,
        timeout: Duration::from_secs(30),
        caller_id: None,
        channel_id: "disca-call-1".into(),
        other_channel_id: None,
        variables: vec![("TENANT".into(), "acme".into())],
    };
    let originate = client.originate(&req);
    let server = async {
        let action = conn.next_action().await;
        assert_eq!(action.get("Action"), Some("Originate"));
        assert_eq!(action.get("Async"), Some("true"));
        assert_eq!(action.get("ChannelId"), Some("disca-call-1"));
        assert_eq!(action.get("Timeout"), Some("30000"));
        assert_eq!(action.get("Variable"), Some("TENANT=acme"));
        conn.respond(
            &action,
            "Response: Success\r\nMessage: Originate successfully queued\r\n",
        )
        .await;
        let id = action.action_id().unwrap();
        conn.write(&format!(
            "Event: Newchannel\r\nUniqueid: disca-call-1\r\n\r\n\
             Event: OriginateResponse\r\nActionID: {id}\r\nResponse: Success\r\n\
             Uniqueid: disca-call-1\r\nReason: 4\r\n\r\n"
        ))
        .await;
    };
    let (result, ()) = tokio::join!(originate, server);
    result.unwrap();
    assert_eq!(
        expect_event(&mut events).await.event_name(),
        Some("Newchannel")
    );
    let response = expect_event(&mut events).await;
    assert_eq!(response.event_name(), Some("OriginateResponse"));
    assert_eq!(response.get("Reason"), Some("4"));
}

#[tokio::test]
async fn event_lists_are_collected_and_not_forwarded() {
    let (client, mut events, mut conn, _listener) = connected().await;
    let list = client.send_list(Action::new("CoreShowChannels").unwrap());
    let server = async {
        let action = conn.next_action().await;
        let id = action.action_id().unwrap().to_owned();
        conn.respond(
            &action,
            "Response: Success\r\nEventList: start\r\nMessage: Channels will follow\r\n",
        )
        .await;
        conn.write(&format!(
            "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/a-1\r\n\r\n\
             Event: Newstate\r\nChannel: PJSIP/b-2\r\n\r\n\
             Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/b-2\r\n\r\n\
             Event: CoreShowChannelsComplete\r\nActionID: {id}\r\neventlist: COMPLETE\r\n\
             ListItems: 2\r\n\r\n\
             Event: Hangup\r\nChannel: PJSIP/b-2\r\n\r\n"
        ))
        .await;
    };
    let (items, ()) = tokio::join!(list, server);
    let channels: Vec<_> = items
        .unwrap()
        .iter()
        .map(|m| m.get("Channel").unwrap().to_owned())
        .collect();
    assert_eq!(channels, ["PJSIP/a-1", "PJSIP/b-2"]);
    assert_eq!(
        expect_event(&mut events).await.event_name(),
        Some("Newstate")
    );
    assert_eq!(expect_event(&mut events).await.event_name(), Some("Hangup"));

    // An error answer to a list action.
    let list = client.send_list(Action::new("CoreShowChannels").unwrap());
    let server = async {
        let action = conn.next_action().await;
        conn.respond(&action, "Response: Error\r\nMessage: Permission denied\r\n")
            .await;
    };
    let (result, ()) = tokio::join!(list, server);
    assert!(
        matches!(result, Err(AmiError::Rejected { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn real_event_list_fixture_is_collected() {
    // The CoreShowChannels exchange exactly as Asterisk 22 sent it (ActionID `cap-4`).
    let fixture = std::str::from_utf8(include_bytes!("data/event_list.ami")).unwrap();
    let start = fixture
        .find("Response: Success\r\nActionID: cap-4\r\n")
        .unwrap();
    let end = fixture.find("Event: CoreShowChannelsComplete").unwrap();
    let end = end + fixture[end..].find("\r\n\r\n").unwrap() + 4;
    let exchange = &fixture[start..end];

    let (client, _events, mut conn, _listener) = connected().await;
    let list = client.send_list(Action::new("CoreShowChannels").unwrap());
    let server = async {
        let action = conn.next_action().await;
        let id = action.action_id().unwrap();
        conn.write(&exchange.replace("ActionID: cap-4", &format!("ActionID: {id}")))
            .await;
    };
    let (items, ()) = tokio::join!(list, server);
    let items = items.unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|m| m.event_name() == Some("CoreShowChannel"))
    );
    assert_eq!(items[0].get("Linkedid"), Some("disca-call-5"));
}

#[tokio::test]
async fn keepalive_pings_and_a_dead_peer_causes_a_reconnect() {
    let listener = listener().await;
    let mut config = config(listener.local_addr().unwrap());
    config.ping_interval = Duration::from_millis(50);
    // A stall is judged by the Ping's own timeout, however long other
    // actions may take.
    config.ping_timeout = Duration::from_millis(200);
    config.response_timeout = Duration::from_secs(60);
    let (client, mut events) = Client::start(config);
    let (mut conn, _) = FakeConn::accept_login(&listener).await;
    expect_connected(&mut events).await;
    for _ in 0..3 {
        let ping = conn.next_action().await;
        assert_eq!(ping.get("Action"), Some("Ping"));
        conn.respond(&ping, "Response: Success\r\nPing: Pong\r\n")
            .await;
    }
    // Stop answering: the next Ping times out and the client reconnects.
    let reason = expect_disconnected(&mut events).await;
    assert!(reason.contains("Ping"), "{reason}");
    assert!(!client.is_connected());
    let (_conn2, _) = FakeConn::accept_login(&listener).await;
    expect_connected(&mut events).await;
    assert!(client.is_connected());
    drop(conn);
}

#[tokio::test]
async fn reconnects_after_the_server_drops_and_connected_comes_again() {
    let (client, mut events, conn, listener) = connected().await;
    drop(conn);
    let reason = expect_disconnected(&mut events).await;
    assert!(reason.contains("closed"), "{reason}");
    let (mut conn, _) = FakeConn::accept_login(&listener).await;
    expect_connected(&mut events).await;
    let send = client.send(ping());
    let server = async {
        let action = conn.expect_action("Ping").await;
        conn.respond(&action, "Response: Success\r\nPing: Pong\r\n")
            .await;
    };
    let (result, ()) = tokio::join!(send, server);
    result.unwrap();
}

#[tokio::test]
async fn pending_sends_fail_when_the_connection_drops() {
    let (client, mut events, mut conn, _listener) = connected().await;
    let send = client.send(Action::new("Slow").unwrap());
    let server = async {
        conn.expect_action("Slow").await;
        drop(conn);
    };
    let (result, ()) = tokio::join!(send, server);
    assert!(matches!(result, Err(AmiError::Disconnected)), "{result:?}");
    expect_disconnected(&mut events).await;
}

#[tokio::test]
async fn not_connected_fails_at_once() {
    // Nobody listens on this port once the listener is gone.
    let addr = listener().await.local_addr().unwrap();
    let (client, _events) = Client::start(config(addr));
    let started = std::time::Instant::now();
    assert!(matches!(
        client.send(ping()).await,
        Err(AmiError::NotConnected)
    ));
    assert!(matches!(
        client
            .send_list(Action::new("CoreShowChannels").unwrap())
            .await,
        Err(AmiError::NotConnected)
    ));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(!client.is_connected());
}

#[tokio::test]
async fn unanswered_action_times_out_and_the_connection_stays() {
    let (client, mut events, mut conn, _listener) = connected().await;
    let send = client.send(Action::new("Silent").unwrap());
    let server = async {
        conn.expect_action("Silent").await;
    };
    let (result, ()) = tokio::join!(send, server);
    assert!(matches!(result, Err(AmiError::Timeout)), "{result:?}");
    assert!(client.is_connected());
    assert!(events.try_recv().is_err());
}

#[tokio::test]
async fn reader_is_not_held_up_by_a_consumer_that_does_not_read() {
    let (client, mut events, mut conn, _listener) = connected().await;
    let burst: String = (0..50_000)
        .map(|n| format!("Event: Newexten\r\nUniqueid: u-{n}\r\nApplication: NoOp\r\n\r\n"))
        .collect();
    let send = client.send(ping());
    let server = async {
        let ping = conn.next_action().await;
        conn.write(&burst).await;
        conn.respond(&ping, "Response: Success\r\nPing: Pong\r\n")
            .await;
    };
    // Nobody reads `events` while the burst and the answer go through.
    let (result, ()) = tokio::join!(send, server);
    result.unwrap();
    for n in 0..50_000 {
        let event = expect_event(&mut events).await;
        assert_eq!(event.get("Uniqueid"), Some(&*format!("u-{n}")));
    }
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_connection() {
    let (client, mut events, conn, _listener) = connected().await;
    let clone = client.clone();
    drop(client);
    assert!(clone.is_connected());
    drop(clone);
    conn.closed().await;
    let reason = expect_disconnected(&mut events).await;
    assert_eq!(reason, "client dropped");
    assert!(timeout(WAIT, events.recv()).await.unwrap().is_none());
}
