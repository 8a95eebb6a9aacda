//! The production install of Asterisk (`packaging/asterisk/`), run for
//! real: `install-asterisk.sh` puts a Debian sid root folder with Asterisk
//! 22 in place (copied from the test bed's, built by the same recipe, so
//! the test needs no mirror), installs a configuration rendered from
//! `asterisk-config/site.example` the way an operator renders it, and
//! writes the systemd unit, which `systemd-analyze verify` accepts. Asterisk
//! is then started with the unit's command in the root folder
//! (`chroot <root> /usr/sbin/asterisk -f`: systemd itself is not running
//! here, so the unit's sandboxing is checked only by `verify`), runs as the
//! host's own `asterisk` system user, and the backend's AMI client logs in
//! with the rendered user and secret. Run again, the script keeps the root
//! and the previous configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use disca_ami::{Action, Client, Config};
use disca_testkit::AsteriskRoot;
use disca_testkit::{free_tcp_port, free_udp_port};

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/asterisk")
}

/// `site.example` with values for this machine: loopback ports of its own,
/// no TLS, the secrets filled in.
fn site(dir: &Path, ami_port: u16) -> PathBuf {
    let site = dir.join("site");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../asterisk-config/site.example");
    let status = Command::new("cp")
        .arg("-R")
        .arg(&example)
        .arg(&site)
        .status()
        .unwrap();
    assert!(status.success());
    let vars_file = site.join("site.vars");
    let mut vars = disca_asterisk_render::SiteVars::load(&vars_file).unwrap();
    let sip = free_udp_port();
    for (name, value) in [
        ("AMI_PORT", ami_port.to_string()),
        ("AMI_SECRET", "install-test-secret".to_owned()),
        ("SIP_UDP_BIND", format!("127.0.0.1:{sip}")),
        ("SIP_TLS_BIND", format!("127.0.0.1:{}", free_tcp_port())),
        ("EXTERNAL_SIGNALING_ADDRESS", String::new()),
        ("EXTERNAL_MEDIA_ADDRESS", String::new()),
        ("LOCAL_NET", "127.0.0.0/8".to_owned()),
        ("TLS_CERT_FILE", String::new()),
        ("TLS_KEY_FILE", String::new()),
        ("HTTP_ENABLED", "no".to_owned()),
        ("HTTP_LOOPBACK_PORT", free_tcp_port().to_string()),
        ("HTTPS_ENABLED", "no".to_owned()),
        ("HTTPS_BIND", format!("127.0.0.1:{}", free_tcp_port())),
        ("STUN_ADDRESS", String::new()),
        ("ACME_1001_PASSWORD", "acme-1001-install-test".to_owned()),
        ("ACME_1002_PASSWORD", "acme-1002-install-test".to_owned()),
        ("ACME_1003_PASSWORD", "acme-1003-install-test".to_owned()),
        (
            "GLOBEX_2001_PASSWORD",
            "globex-2001-install-test".to_owned(),
        ),
        (
            "GLOBEX_TRUNK_PASSWORD",
            "globex-trunk-install-test".to_owned(),
        ),
    ] {
        vars.replace(name, &value).unwrap();
    }
    let text: String = vars
        .iter()
        .map(|(name, value)| format!("{name} = {value}\n"))
        .collect();
    std::fs::write(&vars_file, text).unwrap();
    site
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_scripted_install_runs_asterisk_22_with_the_rendered_configuration() {
    let testbed = AsteriskRoot::locate().expect("the test bed's Asterisk root");
    let dir = tempfile::tempdir().unwrap();
    let ami_port = free_tcp_port();
    let site = site(dir.path(), ami_port);
    let rendered = dir.path().join("rendered");
    disca_asterisk_render::render_site(
        &disca_asterisk_render::Templates::Embedded,
        &site,
        &rendered,
    )
    .unwrap();
    let root = dir.path().join("disca-asterisk/root");
    let units = dir.path().join("units");
    let install = || {
        let mut c = Command::new("sh");
        c.arg(packaging().join("install-asterisk.sh"))
            .arg("--config")
            .arg(&rendered)
            .arg("--root")
            .arg(&root)
            .arg("--from-root")
            .arg(testbed.path())
            .arg("--unit-dir")
            .arg(&units)
            .arg("--no-start");
        c
    };
    let out = run(&mut install());
    assert!(out.contains("root folder: Asterisk 22."), "{out}");

    // The configuration is the rendered one, readable by Asterisk's group
    // only; the unit names the root.
    let manager = root.join("etc/asterisk/manager.conf");
    assert_eq!(
        std::fs::read(&manager).unwrap(),
        std::fs::read(rendered.join("manager.conf")).unwrap()
    );
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&manager).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    let host_gid: u32 = run(Command::new("id").args(["-g", "asterisk"]))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (0, host_gid),
        "owner root, group asterisk"
    );
    let unit = std::fs::read_to_string(units.join("disca-asterisk.service")).unwrap();
    for line in [
        format!("RootDirectory={}", root.display()),
        "ExecStart=/usr/sbin/asterisk -f".to_owned(),
        "NoNewPrivileges=true".to_owned(),
        "ProtectSystem=strict".to_owned(),
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    // `verify` looks for ExecStart's program on the host, not in the
    // RootDirectory: the root's /usr/sbin is overlaid on the host's in a
    // mount namespace of its own, so nothing is installed here.
    let script = format!(
        "mount -t overlay disca-sbin -o lowerdir={}:/usr/sbin /usr/sbin && \
         SYSTEMD_UNIT_PATH={}: systemd-analyze verify --man=no disca-asterisk.service",
        root.join("usr/sbin").display(),
        units.display()
    );
    let verify = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // Started as the unit starts it, it serves AMI to the rendered user.
    let mut asterisk = tokio::process::Command::new("chroot")
        .arg(&root)
        .args(["/usr/sbin/asterisk", "-f"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ami_port));
    let (client, _events) = Client::start(Config::new(
        &addr.to_string(),
        "disca",
        "install-test-secret",
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !client.is_connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged in to the installed Asterisk's AMI"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.send(Action::new("Ping").unwrap()).await.unwrap();
    let console = |command: &str| {
        run(Command::new("chroot")
            .arg(&root)
            .args(["/usr/sbin/asterisk", "-rx", command]))
    };
    assert!(console("core show version").starts_with("Asterisk 22."));
    let endpoints = console("pjsip show endpoints");
    assert!(endpoints.contains("acme-1001"), "{endpoints}");
    // It runs as the user the site names, not root.
    // (`chroot` executes Asterisk in its own process.)
    let pid = asterisk.id().unwrap();
    let uid = disca_testkit::procfs::status_field(pid, "Uid:");
    assert!(
        uid.is_some_and(|uid| uid != 0),
        "Asterisk runs as uid {uid:?}"
    );
    drop(client);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    if tokio::time::timeout(Duration::from_secs(15), asterisk.wait())
        .await
        .is_err()
    {
        asterisk.kill().await.unwrap();
    }

    // Run again: the root is kept, the previous configuration set aside
    // (as the first run set aside the package's own).
    let out = run(&mut install());
    assert!(out.contains("keeping the root folder"), "{out}");
    let kept = std::fs::read_dir(root.join("etc"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("asterisk.before-")
        })
        .count();
    assert_eq!(kept, 2);
}
