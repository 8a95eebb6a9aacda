//! The built `disca-asterisk-render`, copied alone into a folder far from
//! the repository (as on a company's PBX), renders the example site exactly
//! as the library does from the repository's `asterisk-config/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use disca_asterisk_render::{SITE_VARS_FILE, Templates, render_site};

const SECRETS: [&str; 6] = [
    "AMI_SECRET",
    "ACME_1001_PASSWORD",
    "ACME_1002_PASSWORD",
    "ACME_1003_PASSWORD",
    "GLOBEX_2001_PASSWORD",
    "GLOBEX_TRUNK_PASSWORD",
];

fn repository_templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../asterisk-config")
}

/// Copies the example site into `to`, with a value for every secret.
fn example_site(to: &Path) {
    copy_tree(&repository_templates().join("site.example"), to);
    let vars = to.join(SITE_VARS_FILE);
    let mut text = fs::read_to_string(&vars).unwrap();
    for name in SECRETS {
        text = text.replace(
            &format!("\n{name} =\n"),
            &format!("\n{name} = s3cret-{name}\n"),
        );
    }
    fs::write(vars, text).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn tree(dir: &Path, relative: &Path, files: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = fs::read_dir(dir.join(relative))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    entries.sort();
    for name in entries {
        let path = relative.join(name);
        if dir.join(&path).is_dir() {
            tree(dir, &path, files);
        } else {
            files.push((path.clone(), fs::read_to_string(dir.join(&path)).unwrap()));
        }
    }
}

#[test]
fn the_binary_alone_renders_what_the_repository_templates_render() {
    let far = tempfile::tempdir().unwrap();
    let binary = far.path().join("disca-asterisk-render");
    fs::copy(env!("CARGO_BIN_EXE_disca-asterisk-render"), &binary).unwrap();
    example_site(&far.path().join("site"));
    for name in SECRETS {
        assert!(
            fs::read_to_string(far.path().join("site").join(SITE_VARS_FILE))
                .unwrap()
                .contains(&format!("{name} = s3cret-")),
            "{name} set"
        );
    }

    let output = Command::new(&binary)
        .current_dir(far.path())
        .env_clear()
        .args(["--site", "site", "--out", "etc"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(
        listed.lines().any(|l| l == "etc/pjsip.d/globex.conf"),
        "{listed}"
    );

    let expected = tempfile::tempdir().unwrap();
    let expected_etc = expected.path().join("etc");
    render_site(
        &Templates::Dir(repository_templates()),
        &far.path().join("site"),
        &expected_etc,
    )
    .unwrap();
    let (mut rendered, mut wanted) = (Vec::new(), Vec::new());
    tree(&far.path().join("etc"), Path::new(""), &mut rendered);
    tree(&expected_etc, Path::new(""), &mut wanted);
    assert!(rendered.len() > 15, "{rendered:?}");
    assert_eq!(rendered, wanted);
    let manager = fs::read_to_string(far.path().join("etc/manager.conf")).unwrap();
    assert!(
        manager.contains("secret = s3cret-AMI_SECRET\n"),
        "{manager}"
    );
}

#[test]
fn the_binary_names_every_problem_and_fails() {
    let far = tempfile::tempdir().unwrap();
    copy_tree(
        &repository_templates().join("site.example"),
        &far.path().join("site"),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_disca-asterisk-render"))
        .current_dir(far.path())
        .args(["--site", "site", "--out", "etc"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("variable AMI_SECRET is empty"), "{stderr}");
    assert!(!far.path().join("etc").exists(), "nothing written");
}
