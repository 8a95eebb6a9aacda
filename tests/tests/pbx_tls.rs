//! The production TLS settings (`asterisk-config/pjsip.conf`'s
//! `transport-tls`, `http.conf`'s WSS listener) against a real Asterisk 22
//! with an RSA certificate, probed with `openssl s_client`: only forward
//! secret key exchange (ECDHE) with an AEAD cipher in TLS 1.2, and TLS 1.3,
//! on both SIP/TLS and WSS.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use disca_testkit::{AsteriskRoot, TestPbx, TestPbxOptions, free_udp_port};

/// Whether a TLS handshake with these `s_client` options succeeds; the
/// second value is what `openssl` said, for the failure message.
async fn handshake(addr: SocketAddr, options: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new("openssl");
    command
        .arg("s_client")
        .arg("-brief")
        .arg("-connect")
        .arg(addr.to_string())
        .arg("-servername")
        .arg("localhost")
        .args(options)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(20), command.output())
        .await
        .expect("openssl s_client finished")
        .expect("openssl s_client ran (Debian package openssl)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let established = said.contains("CONNECTION ESTABLISHED");
    (established, said)
}

#[tokio::test]
async fn sip_tls_and_wss_accept_only_forward_secret_aead_ciphers() {
    let root = AsteriskRoot::locate().expect("provisioned Asterisk root");
    let options = TestPbxOptions {
        agent_sip_port: free_udp_port(),
        trunk_sip_port: free_udp_port(),
        lead_ring_timeout_secs: 10,
        extra_agents: 0,
        websocket: false,
    };
    let pbx = TestPbx::start_with_tls(&root, options)
        .await
        .expect("Asterisk started with TLS");
    // `@SECLEVEL=0`: the client offers what it is told even where its own
    // defaults would refuse, so the refusal is the server's.
    let cases: &[(&[&str], bool)] = &[
        // Forward secret and AEAD: accepted.
        (&["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], true),
        (&["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"], true),
        (&["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], true),
        (&["-tls1_3"], true),
        // RSA key exchange (no forward secrecy), AEAD or not: refused.
        (
            &["-tls1_2", "-cipher", "AES128-GCM-SHA256@SECLEVEL=0"],
            false,
        ),
        (&["-tls1_2", "-cipher", "AES256-SHA256@SECLEVEL=0"], false),
        (&["-tls1_2", "-cipher", "AES128-SHA@SECLEVEL=0"], false),
        // Forward secret but CBC: refused.
        (
            &["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA@SECLEVEL=0"],
            false,
        ),
        (
            &["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384@SECLEVEL=0"],
            false,
        ),
        // Finite-field DHE: refused (ECDHE only).
        (
            &["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256@SECLEVEL=0"],
            false,
        ),
        // Old protocols: refused.
        (&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], false),
        (&["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], false),
    ];
    let mut wrong = Vec::new();
    for (listener, addr) in [("SIP/TLS", pbx.sip_tls_addr), ("WSS", pbx.https_addr)] {
        for (options, expected) in cases {
            let (established, said) = handshake(addr, options).await;
            if established != *expected {
                wrong.push(format!(
                    "{listener} {options:?}: expected {}, got {}\n{said}",
                    if *expected {
                        "a handshake"
                    } else {
                        "a refusal"
                    },
                    if established {
                        "a handshake"
                    } else {
                        "a refusal"
                    },
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
