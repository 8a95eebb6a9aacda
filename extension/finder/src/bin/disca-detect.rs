//! `disca-detect [--region BR|none]`: reads text on stdin and prints each
//! phone number found, in E.164, one per line, in order of appearance.

use std::io::{Read, Write};
use std::process::ExitCode;

use disca_finder::{Region, find};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut region = Region::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--region" => match args.next().as_deref().and_then(Region::parse) {
                Some(r) => region = r,
                None => {
                    eprintln!("disca-detect: --region takes BR or none");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: disca-detect [--region BR|none] < text");
                println!("Prints each phone number found on stdin in E.164, one per line.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("disca-detect: unknown argument {other:?} (see --help)");
                return ExitCode::from(2);
            }
        }
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("disca-detect: cannot read stdin: {e}");
        return ExitCode::FAILURE;
    }
    // Invalid UTF-8 is replaced, not fatal: the numbers around it still count.
    let text = String::from_utf8_lossy(&bytes);
    let mut out = std::io::stdout().lock();
    for found in find(&text, region) {
        if writeln!(out, "{}", found.e164).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
