//! Disca's reusable test harness, for the backend's API tests and the
//! cross-process tests of `tests/` (disca-tests):
//!
//! - [`TestApp`]: the backend started in-process on a random port with its
//!   own database (a SQLite file, or PostgreSQL) — the one way tests start it;
//! - [`AsteriskRoot`]: locates the Debian sid root in which Asterisk 22 runs
//!   under `chroot` (provisioned by `cargo xtask asterisk provision`);
//! - [`PbxInstance`]: one Asterisk's own directories inside the root,
//!   configured by `disca-asterisk-render` with the test overlay;
//! - [`TestPbx`]: a real Asterisk per test, on free loopback ports;
//! - [`SipPeer`]: a real SIP peer (SIPp) with a [`PeerBehavior`];
//! - [`AmiSession`]: a raw AMI session for checks made beside the product;
//! - [`system`]: a PBX with its peers ([`system::Lab`]), the backend with the
//!   users the system tests know ([`system::Backend`]), a TCP proxy that cuts
//!   links, the real binary as a process; [`limited`]: the binary under
//!   `prlimit`; [`faults`]: an AMI stand-in that answers;
//! - [`host`] (feature `host`): the real `disca-host` binary in a home of
//!   its own;
//! - [`accounts`]: a user's password, set through an invitation link;
//! - [`crm`]: a backend's tenant connected to the RD Station stand-in, and
//!   calls ended the way the PBX tracker ends them;
//! - [`turn`]: a real TURN server (coturn); [`smtp`]: a real SMTP server
//!   (aiosmtpd) and the mail it received;
//! - [`postgres`]: a throwaway PostgreSQL server for the tests on it;
//!   [`sse`]: an event stream read event by event;
//! - [`free_udp_port`] / [`free_tcp_port`], [`procfs`], [`machine`];
//!   [`cargo::nested_cargo`] for builds started from a test or xtask.
//!
//! With the `browser` feature (only the cross-process tests and xtask turn
//! it on, so the backend's tests never build it): [`chromium`], a DevTools
//! client driving headless Chromium; [`extension`], the extension that
//! `cargo xtask extension` builds and a Chromium running it; [`crm_pages`],
//! RD Station-shaped pages served on loopback; [`screenshots`], the README's.
//!
//! Running Asterisk needs root (chroot(2)) and a provisioned root.

pub mod accounts;
pub mod ami;
pub mod app;
pub mod audio;
pub mod cargo;
#[cfg(feature = "browser")]
pub mod chromium;
pub mod crm;
#[cfg(feature = "browser")]
pub mod crm_pages;
#[cfg(feature = "browser")]
pub mod extension;
pub mod faults;
#[cfg(feature = "host")]
pub mod host;
pub mod instance;
pub mod limited;
pub mod machine;
pub mod pbx;
pub mod ports;
pub mod postgres;
pub mod procfs;
pub mod root;
#[cfg(feature = "browser")]
pub mod screenshots;
pub mod sip;
pub mod smtp;
pub mod sse;
pub mod system;
pub mod turn;

pub use ami::{AmiMessage, AmiSession};
pub use app::{TestApp, TestAppBuilder};
pub use instance::PbxInstance;
pub use pbx::{PostgresDirectoryAccess, TestPbx, TestPbxOptions};
pub use ports::{free_tcp_port, free_udp_port};
pub use root::AsteriskRoot;
pub use sip::{PeerBehavior, ReceivedInvite, SipPeer};
