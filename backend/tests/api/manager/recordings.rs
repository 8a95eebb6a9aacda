//! Recordings: streamed from the spool, and nothing else (other names,
//! links, files swapped in).

use disca_backend::domain::PbxName;

use super::*;

#[tokio::test]
async fn recordings_play_from_the_spool_and_nothing_else() {
    let app = spawn_app().await;
    let wav: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(app.recordings.join("acme-1.wav"), &wav).unwrap();
    // Files a traversal would reach.
    std::fs::write(
        app.recordings.parent().unwrap().join("secret.wav"),
        b"secret",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        app.recordings.parent().unwrap().join("secret.wav"),
        app.recordings.join("link.wav"),
    )
    .unwrap();
    // A hard link is a plain file name of a regular file, but the file is
    // the one outside.
    std::fs::hard_link(
        app.recordings.parent().unwrap().join("secret.wav"),
        app.recordings.join("hard.wav"),
    )
    .unwrap();
    let recorded = app
        .ended_call(
            "acme-ana",
            End {
                recording: Some("acme-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let cookie = app.session("acme-manager").await;
    let path = format!("/manager/calls/{}/recording", recorded.id);

    let r = app.get(&cookie, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "audio/wav");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.bytes().await.unwrap().as_ref(), wav.as_slice());
    let r = app
        .http
        .get(app.url(&path))
        .header(COOKIE, &cookie)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/4096");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &wav[100..200]);
    for (range, status, content_range, bytes) in [
        ("bytes=4000-", 206, "bytes 4000-4095/4096", &wav[4000..]),
        ("bytes=-10", 206, "bytes 4086-4095/4096", &wav[4086..]),
        ("bytes=0-0", 206, "bytes 0-0/4096", &wav[..1]),
        ("bytes=4096-", 416, "bytes */4096", &[][..]),
    ] {
        let r = app
            .http
            .get(app.url(&path))
            .header(COOKIE, &cookie)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{range}");
        assert_eq!(r.headers()["content-range"], content_range, "{range}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes, "{range}");
    }
    let (_, rows) = app.get_json(&cookie, "/manager/api/calls").await;
    assert_eq!(rows["calls"][0]["recording_url"], path.as_str());
    // Not logged in: to the login, and back here afterwards.
    let r = app.get("", &path).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Stored names that leave the spool, a link, a missing file, none.
    for (name, expected) in [
        (Some("../secret.wav"), "recording_not_found"),
        (Some("/etc/passwd"), "recording_not_found"),
        (Some("link.wav"), "recording_not_found"),
        (Some("hard.wav"), "recording_not_found"),
        (Some("absent.wav"), "recording_not_found"),
        (None, "recording_not_found"),
    ] {
        let call = app
            .ended_call(
                "acme-bruno",
                End {
                    recording: name,
                    ..End::answered("(11) 98765-4321")
                },
            )
            .await;
        let (status, body) = app
            .get_json(&cookie, &format!("/manager/calls/{}/recording", call.id))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, expected),
            "{name:?}"
        );
        assert!(message(&body).contains("grava"), "{body}");
        let (_, row) = app
            .get_json(&cookie, &format!("/manager/api/calls/{}", call.id))
            .await;
        assert!(row["recording_url"].is_null(), "{name:?}: {row}");
    }
    // Traversal in the address itself.
    for path in [
        "/manager/calls/..%2F..%2Fsecret.wav/recording",
        "/manager/calls/../../secret.wav/recording",
        "/manager/calls/%2E%2E/recording",
    ] {
        let r = app.get(&cookie, path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_ne!(r.bytes().await.unwrap().as_ref(), b"secret");
    }

    // A server without a recordings folder says so.
    let bare = spawn_app_with(Options {
        recordings: false,
        campinas: false,
        public_url: Some("https://disca.example.com"),
    })
    .await;
    let call = bare
        .ended_call(
            "acme-ana",
            End {
                recording: Some("acme-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let r = bare.login_as(bare.token("acme-manager"), None).await;
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure"),
        "https public address: Secure cookie"
    );
    let cookie = cookie_of(&r);
    let (status, body) = bare
        .get_json(&cookie, &format!("/manager/calls/{}/recording", call.id))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "recordings_not_configured")
    );
}

/// The name is checked, then the file opened: a symbolic link swapped in
/// between the two must not be followed. A thread swaps `swap.wav` between
/// a recording and a link to a file outside the spool as fast as it can
/// while the recording is fetched again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_swapped_in_after_the_check_is_not_followed() {
    let app = spawn_app().await;
    let outside = app.recordings.parent().unwrap().join("secret.wav");
    std::fs::write(&outside, b"secret").unwrap();
    let call = app
        .ended_call(
            "acme-ana",
            End {
                recording: Some("swap.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let cookie = app.session("acme-manager").await;
    let path = format!("/manager/calls/{}/recording", call.id);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = std::thread::spawn({
        let stop = stop.clone();
        let spool = app.recordings.clone();
        move || {
            let target = spool.join("swap.wav");
            let (file, link) = (spool.join(".file.tmp"), spool.join(".link.tmp"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::write(&file, b"RIFF....WAVE").unwrap();
                std::fs::rename(&file, &target).unwrap();
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&outside, &link).unwrap();
                std::fs::rename(&link, &target).unwrap();
            }
        }
    });
    let (mut served, mut refused) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let r = app.get(&cookie, &path).await;
        let status = r.status();
        let body = r.bytes().await.unwrap();
        assert_ne!(body.as_ref(), b"secret", "the link was followed");
        match status {
            StatusCode::OK => {
                assert_eq!(body.as_ref(), b"RIFF....WAVE");
                served += 1;
            }
            StatusCode::NOT_FOUND => refused += 1,
            other => panic!("{other}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(
        served > 0 && refused > 0,
        "served {served}, refused {refused}"
    );
}

/// The default PBX's recordings folder, as the sweep takes it.
fn default_folder(app: &ManagerApp) -> disca_backend::recordings::retention::Folders {
    [(PbxName::default(), app.recordings.clone())].into()
}

#[tokio::test]
async fn recordings_past_retention_are_deleted_and_their_links_say_so() {
    use disca_backend::storage::{Actor, AuditAction, AuditEntry, RecordingRules};
    let app = spawn_app().await;
    for (name, ended_days_ago) in [("acme-old.wav", 40), ("acme-new.wav", 2)] {
        std::fs::write(app.recordings.join(name), b"RIFF....WAVE").unwrap();
        let mut call = app
            .ended_call(
                "acme-ana",
                End {
                    recording: Some(name),
                    ..End::answered("(11) 98765-4321")
                },
            )
            .await;
        call.ended_at =
            Some(time::OffsetDateTime::now_utc() - time::Duration::days(ended_days_ago));
        app.store
            .save_calls(std::slice::from_ref(&call))
            .await
            .unwrap();
    }
    // Another tenant's old recording, kept: globex has no retention.
    std::fs::write(app.recordings.join("globex-old.wav"), b"RIFF....WAVE").unwrap();
    let mut globex = app
        .ended_call(
            "globex-agent",
            End {
                recording: Some("globex-old.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    globex.ended_at = Some(time::OffsetDateTime::now_utc() - time::Duration::days(400));
    app.store
        .save_calls(std::slice::from_ref(&globex))
        .await
        .unwrap();
    let entry = AuditEntry {
        action: AuditAction::RecordingRulesChanged,
        target: "acme".into(),
        detail: "guarda: 30 dias".into(),
    };
    app.store
        .set_recording_rules(
            "acme",
            &RecordingRules {
                retention_days: Some(30),
                ..RecordingRules::default()
            },
            &Actor::cli(),
            &entry,
        )
        .await
        .unwrap();
    // Recordings no call names (recorded as recording was turned off):
    // deleted a day past the retention by their age on disk.
    let aged = |name: &str, days: u64| {
        let path = app.recordings.join(name);
        std::fs::write(&path, b"RIFF....WAVE").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(days * 86_400))
            .unwrap();
    };
    aged("acme-orphan-old.wav", 40);
    aged("acme-orphan-new.wav", 10);
    aged("globex-orphan-old.wav", 400);
    let deleted = disca_backend::recordings::retention::sweep(
        &app.store,
        &default_folder(&app),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    assert_eq!(deleted, 1);
    let orphans = disca_backend::recordings::retention::sweep_orphans(
        &app.store,
        &default_folder(&app),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    assert_eq!(orphans, 1);
    assert!(!app.recordings.join("acme-orphan-old.wav").exists());
    assert!(app.recordings.join("acme-orphan-new.wav").exists());
    assert!(app.recordings.join("globex-orphan-old.wav").exists());
    assert!(!app.recordings.join("acme-old.wav").exists());
    assert!(app.recordings.join("acme-new.wav").exists());
    assert!(app.recordings.join("globex-old.wav").exists());
    // A second sweep finds nothing more.
    let again = disca_backend::recordings::retention::sweep(
        &app.store,
        &default_folder(&app),
        time::OffsetDateTime::now_utc(),
    )
    .await;
    assert_eq!(again, 0);

    let cookie = app.session("acme-manager").await;
    let calls = app.listed(&cookie, "").await;
    let old = app.store.call(&calls[1]).await.unwrap();
    assert_eq!(old.recording_file.as_deref(), Some("acme-old.wav"));
    // The link in the CRM note: a clear page, not an error.
    let r = app
        .get(&cookie, &format!("/manager/calls/{}/recording", old.id))
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("Gravação expirada"));
    // Listening is in the tenant's audit log: once per playback, not per
    // range the player asks for.
    let new = &calls[0];
    let path = format!("/manager/calls/{new}/recording");
    assert_eq!(app.get(&cookie, &path).await.status(), StatusCode::OK);
    let r = app
        .http
        .get(app.url(&path))
        .header(COOKIE, &cookie)
        .header("range", "bytes=4-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let log = app.store.audit_log("acme", None, 10).await.unwrap();
    let played: Vec<_> = log
        .iter()
        .filter(|r| r.action == "recording.played")
        .collect();
    assert_eq!(played.len(), 1, "{log:?}");
    assert_eq!(played[0].target, *new);
    assert_eq!(played[0].actor, "Marta Gestora <acme-manager@example.com>");
    assert!(
        app.store
            .audit_log("globex", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A PBX on a machine of its own records into its own spool, which this
/// backend reads through a mount (`[pbxs.campinas] recordings_dir`): its
/// calls play from there and from nowhere else, and its recordings past
/// retention go from there, once the folder can be reached.
#[tokio::test]
async fn each_pbx_s_recordings_play_and_expire_from_its_own_folder() {
    use disca_backend::storage::{Actor, AuditAction, AuditEntry, RecordingRules};
    let app = spawn_app_with(Options {
        recordings: true,
        campinas: true,
        public_url: None,
    })
    .await;
    let campinas: PbxName = "campinas".parse().unwrap();
    app.store
        .set_tenant_pbx("globex", &campinas, false, &Actor::cli())
        .await
        .unwrap();
    let wav = b"RIFF....WAVEcampinas".to_vec();
    std::fs::write(app.campinas_recordings.join("globex-1.wav"), &wav).unwrap();
    std::fs::write(app.recordings.join("acme-1.wav"), b"RIFF....WAVEdefault").unwrap();
    // The same name in another PBX's folder is never played for this call.
    std::fs::write(app.recordings.join("globex-1.wav"), b"RIFF....WAVEimpostor").unwrap();
    let globex = app
        .ended_call(
            "globex-agent",
            End {
                recording: Some("globex-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let acme = app
        .ended_call(
            "acme-ana",
            End {
                recording: Some("acme-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let cookie = app.session("globex-manager").await;
    let path = format!("/manager/calls/{}/recording", globex.id);
    let r = app.get(&cookie, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), wav.as_slice());
    let (_, rows) = app.get_json(&cookie, "/manager/api/calls").await;
    assert_eq!(rows["calls"][0]["recording_url"], path.as_str());
    let cookie = app.session("acme-manager").await;
    let r = app
        .get(&cookie, &format!("/manager/calls/{}/recording", acme.id))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the default PBX's still play");

    let mut old = globex.clone();
    old.ended_at = Some(time::OffsetDateTime::now_utc() - time::Duration::days(40));
    app.store
        .save_calls(std::slice::from_ref(&old))
        .await
        .unwrap();
    let entry = AuditEntry {
        action: AuditAction::RecordingRulesChanged,
        target: "globex".into(),
        detail: "guarda: 30 dias".into(),
    };
    app.store
        .set_recording_rules(
            "globex",
            &RecordingRules {
                retention_days: Some(30),
                ..RecordingRules::default()
            },
            &Actor::cli(),
            &entry,
        )
        .await
        .unwrap();
    let mut folders = default_folder(&app);
    // Campinas's folder unreachable (its mount gone): nothing is marked.
    let gone = app.campinas_recordings.join("gone");
    std::fs::write(&gone, b"not a folder").unwrap();
    folders.insert(campinas.clone(), gone.join("monitor"));
    let now = time::OffsetDateTime::now_utc();
    let deleted = disca_backend::recordings::retention::sweep(&app.store, &folders, now).await;
    assert_eq!(deleted, 0);
    assert!(!app.store.recording_expired(&globex.id).await.unwrap());
    folders.insert(campinas, app.campinas_recordings.clone());
    let deleted = disca_backend::recordings::retention::sweep(&app.store, &folders, now).await;
    assert_eq!(deleted, 1);
    assert!(!app.campinas_recordings.join("globex-1.wav").exists());
    assert!(
        app.recordings.join("globex-1.wav").exists(),
        "the file of the same name in the default PBX's folder is not the call's"
    );
    assert!(app.recordings.join("acme-1.wav").exists());
}
