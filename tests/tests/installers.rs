//! What `cargo xtask dist` makes, installed the way IT installs it: the
//! host's `.deb` unpacked over the system (its files at their real paths,
//! in a mount namespace of Chromium's own: `/etc` and `/usr/bin` overlaid
//! with the package's files, so nothing leaks to the machine), no per-user
//! manifest, and the extension force-installed by a managed policy
//! (`ExtensionInstallForcelist`) from the CRX and `update.xml` the backend
//! serves at `/downloads`, with the company's address preset by policy. The extension
//! reaches the host through the system-wide manifest, the popup offers
//! "Entrar" at the preset address, and a salesperson signs in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use disca_host::credentials::{CredentialStore, StoreKind};
use disca_testkit::PeerBehavior;
use disca_testkit::accounts::give_password;
use disca_testkit::cargo::nested_cargo;
use disca_testkit::chromium::{Chromium, ChromiumOptions};
use disca_testkit::crm_pages::{CrmPages, DEAL_ID};
use disca_testkit::extension::sign_in_from_popup;
use disca_testkit::host::HostHome;
use disca_testkit::instance::repository_dir;
use disca_testkit::system::{Backend, LEAD_E164, Lab};

const WAIT: Duration = Duration::from_secs(60);
const VERSION: &str = env!("CARGO_PKG_VERSION");
const PASSWORD: &str = "cavalo-correto-bateria";

/// `cargo xtask dist`, for download from `downloads_url`.
fn run_dist(downloads_url: &str) {
    let status = nested_cargo()
        .current_dir(repository_dir())
        .args(["xtask", "dist", "--downloads-url", downloads_url])
        .status()
        .unwrap();
    assert!(status.success(), "cargo xtask dist failed");
}

fn command_output(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A `sh` script that starts Chromium in a mount namespace where `/etc`
/// and `/usr/bin` show `layers` (roots holding `etc/` and or `usr/bin/`)
/// over the real ones.
fn chromium_over(layers: &[&Path], dir: &Path) -> PathBuf {
    let lower = |sub: &str| {
        layers
            .iter()
            .map(|l| l.join(sub))
            .filter(|dir| dir.is_dir())
            .map(|dir| dir.display().to_string())
            .chain([format!("/{sub}")])
            .collect::<Vec<_>>()
            .join(":")
    };
    let script = dir.join("chromium-over-package.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c '\
             mount -t overlay disca-etc -o lowerdir={etc} /etc && \
             mount -t overlay disca-bin -o lowerdir={bin} /usr/bin && \
             exec /usr/bin/chromium \"$@\"' chromium \"$@\"\n",
            etc = lower("etc"),
            bin = lower("usr/bin"),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn the_packages_install_system_wide_and_the_policy_installs_the_extension() {
    // A PBX with the salesperson's desk phone, and the backend, which
    // serves what dist makes at /downloads.
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let dist = repository_dir().join("target/dist");
    let downloads = dist.clone();
    let backend =
        Backend::start_configured(&lab.pbx, move |s| s.downloads.dir = Some(downloads)).await;
    let app = &backend.app;
    run_dist(&app.url("/downloads"));
    let deb = dist.join(format!("disca-host_{VERSION}_amd64.deb"));
    let rpm = dist.join(format!("disca-host-{VERSION}-1.x86_64.rpm"));
    let crx = dist.join(format!("disca-extension-{VERSION}.crx"));
    let zip = dist.join(format!("disca-extension-{VERSION}.zip"));

    // The formats.
    let deb_path = deb.to_str().unwrap();
    assert_eq!(
        command_output("dpkg-deb", &["--field", deb_path, "Package"]).trim(),
        "disca-host"
    );
    let contents = command_output("dpkg-deb", &["--contents", deb_path]);
    for path in [
        "./usr/bin/disca-host",
        "./etc/chromium/native-messaging-hosts/com.disca.host.json",
        "./etc/opt/chrome/native-messaging-hosts/com.disca.host.json",
        "./etc/opt/edge/native-messaging-hosts/com.disca.host.json",
        "./etc/opt/brave.com/brave/native-messaging-hosts/com.disca.host.json",
        "./etc/disca/host.toml",
    ] {
        assert!(
            contents.contains(path),
            "{path} not in the .deb:\n{contents}"
        );
    }
    let rpm_bytes = std::fs::read(&rpm).unwrap();
    assert_eq!(&rpm_bytes[..4], b"\xed\xab\xee\xdb", "an RPM lead");
    let crx_bytes = std::fs::read(&crx).unwrap();
    assert_eq!(&crx_bytes[..4], b"Cr24");
    assert_eq!(
        u32::from_le_bytes(crx_bytes[4..8].try_into().unwrap()),
        3,
        "CRX3"
    );
    assert_eq!(&std::fs::read(&zip).unwrap()[..2], b"PK");
    let update_xml = std::fs::read_to_string(dist.join("update.xml")).unwrap();
    let id = update_xml
        .split("appid='")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    assert!(update_xml.contains(&app.url(&format!("/downloads/disca-extension-{VERSION}.crx"))));
    // What the backend offers, and not the signing key beside it.
    let offered: serde_json::Value = app
        .http
        .get(app.url("/downloads/files.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&deb.file_name().unwrap().to_str().unwrap()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".pem")), "{names:?}");
    let key = app
        .http
        .get(app.url("/downloads/extension-key.pem"))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 404);

    // The .deb's files, unpacked where the overlay shows them at their paths.
    let root = tempfile::tempdir().unwrap();
    let package = root.path().join("package");
    command_output("dpkg-deb", &["-x", deb_path, package.to_str().unwrap()]);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(package.join("etc/chromium/native-messaging-hosts/com.disca.host.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["path"], "/usr/bin/disca-host");
    assert_eq!(
        manifest["allowed_origins"],
        serde_json::json!([format!("chrome-extension://{id}/")])
    );

    // The salesperson at extension 1001 gets her password from an invitation.
    let ana = app
        .store
        .user_by_email("acme", "acme-1001@example.com")
        .await
        .unwrap();
    give_password(&app.base, &app.store, &ana, PASSWORD).await;

    // IT's policy: force-install from the update URL, preset the address.
    let policy = root.path().join("policy");
    let managed = policy.join("etc/chromium/policies/managed");
    std::fs::create_dir_all(&managed).unwrap();
    std::fs::write(
        managed.join("disca.json"),
        serde_json::to_vec_pretty(&serde_json::json!({
            "ExtensionInstallForcelist": [format!("{id};{}", app.url("/downloads/update.xml"))],
            "NativeMessagingAllowlist": ["com.disca.host"],
            // Lets the test's DevTools connection into the force-installed
            // extension (Chrome protects those from debugging otherwise).
            "DeveloperToolsAvailability": 1,
            "3rdparty": {"extensions": {id.clone(): {
                "backend_url": app.base,
                "sites": {"marketing": false}
            }}}
        }))
        .unwrap(),
    )
    .unwrap();

    // A user with no manifest of their own, in a browser with no extension
    // loaded by hand.
    let home = HostHome::new(package.join("usr/bin/disca-host"));
    let script = chromium_over(&[&package, &policy], root.path());
    let pages = CrmPages::start(Vec::new()).await;
    let chromium = Chromium::launch(
        pages.browser(
            ChromiumOptions::new(home.browser_dir())
                .binary(&script)
                .extension_updates()
                .envs(home.environment()),
        ),
    )
    .await
    .unwrap();
    let worker = chromium
        .worker(&format!("chrome-extension://{id}/"), WAIT)
        .await
        .unwrap_or_else(|e| panic!("the policy did not install the extension: {e}"));
    worker
        .wait_for("globalThis.disca && disca.state.host === 'ready'", WAIT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the extension did not reach the host through the system-wide manifest: {e}\nhost log:\n{}",
                home.log()
            )
        });
    // Chromium makes the per-user folder itself; no manifest is in it.
    assert!(
        !home
            .browser_dir()
            .join("NativeMessagingHosts/com.disca.host.json")
            .exists()
    );

    // IT's sites: RD Station Marketing off, and the person cannot turn it on
    // (the policy may reach the extension after the page opened).
    let options = chromium
        .open(&format!("chrome-extension://{id}/options/options.html"))
        .await
        .unwrap();
    let groups = options
        .wait_for(
            "[...document.querySelectorAll('#groups input')].some((i) => i.disabled) && \
             [...document.querySelectorAll('#groups input')].map((i) => [i.checked, i.disabled])",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(groups, serde_json::json!([[true, false], [false, true]]));

    // The popup: the preset address, no question; "Entrar" signs Ana in.
    let popup = chromium
        .open(&format!("chrome-extension://{id}/popup/popup.html"))
        .await
        .unwrap();
    let address = popup
        .wait_for(
            "!document.getElementById('sign-in').hidden && \
             document.getElementById('backend-url').hidden && \
             document.getElementById('sign-in-address').textContent",
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nhost log:\n{}", home.log()));
    assert_eq!(address, format!("Em {}", app.base));
    let name = sign_in_from_popup(
        &chromium,
        &popup,
        &app.base,
        "acme-1001@example.com",
        PASSWORD,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nhost log:\n{}", home.log()));
    assert_eq!(name, "acme-1001");
    assert!(
        CredentialStore::new(StoreKind::KernelKeyring)
            .load(&app.base)
            .unwrap()
            .is_some(),
        "the device token is in the keyring"
    );

    // A click on the lead's number places the call: her phone rings and
    // answers, then the lead's.
    let page = chromium
        .open(&pages.url(&format!("/app/deals/{DEAL_ID}")))
        .await
        .unwrap();
    let control = format!("[data-disca-number=\"{LEAD_E164}\"]");
    page.wait_for(&format!("document.querySelector('{control}')"), WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}: {:#?}", page.console()));
    page.click(&control).await.unwrap();
    popup
        .wait_for(
            "document.getElementById('live').dataset.state === 'connected'",
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nhost log:\n{}", home.log()));
    let (_, calls) = backend.get("acme-1001", "/v1/calls").await;
    assert_eq!(calls["calls"][0]["to"], LEAD_E164, "{calls}");
    assert_eq!(calls["calls"][0]["context"]["deal_id"], DEAL_ID, "{calls}");
    popup.click("#hangup").await.unwrap();
}
