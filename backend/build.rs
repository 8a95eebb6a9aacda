//! Generates the default recording announcement, in Brazilian Portuguese,
//! with espeak-ng (Debian's `espeak-ng`, in the test command's packages):
//! `$OUT_DIR/aviso-padrao.wav`, embedded by `recordings::announcement`
//! under `cfg(default_announcement)`. Without espeak-ng the backend builds
//! without a default announcement (the console then offers only an
//! uploaded one), and says so in a build warning.

use std::path::Path;
use std::process::Command;

/// What the lead hears before the conversation.
const TEXT: &str = "Olá. Esta ligação será gravada para fins de qualidade e segurança. \
    Se preferir que ela não seja gravada, avise o atendente.";

fn main() {
    println!("cargo:rustc-check-cfg=cfg(default_announcement)");
    println!("cargo:rerun-if-changed=build.rs");
    let espeak = Path::new("/usr/bin/espeak-ng");
    // Built again when espeak-ng appears (installed by the test command).
    if espeak.exists() {
        println!("cargo:rerun-if-changed={}", espeak.display());
    } else {
        println!("cargo:rerun-if-changed=/usr/bin");
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let wav = Path::new(&out).join("aviso-padrao.wav");
    let made = Command::new(espeak)
        .args(["-v", "pt-br", "-s", "150", "-w"])
        .arg(&wav)
        .arg(TEXT)
        .status();
    match made {
        Ok(status) if status.success() && wav.exists() => {
            println!("cargo:rustc-cfg=default_announcement");
        }
        _ => println!(
            "cargo:warning=espeak-ng is not installed: the backend is built without the default recording announcement"
        ),
    }
}
