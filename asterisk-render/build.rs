//! The templates are embedded with `include_dir!`, which cargo tracks file
//! by file: this makes a file added to (or removed from) `asterisk-config/`
//! rebuild the crate too.

fn main() {
    println!("cargo::rerun-if-changed=../asterisk-config");
}
