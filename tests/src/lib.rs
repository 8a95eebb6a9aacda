//! Disca's cross-process test bed, and the one place that knows how Asterisk
//! is provisioned, configured and run outside production:
//!
//! - [`AsteriskRoot`]: the Debian sid root in which Asterisk 22 runs under
//!   `chroot` on Debian 12 (the recipe `cargo xtask asterisk provision` uses);
//! - [`render`]: the strict renderer of `asterisk-config/` with a site's
//!   variables and tenant files (also used for production and the
//!   development PBX);
//! - [`PbxInstance`]: one Asterisk's own directories inside the root;
//! - [`TestPbx`]: a real Asterisk per test, on free loopback ports;
//! - [`SipPeer`]: a real SIP peer (SIPp) with a [`PeerBehavior`];
//! - [`AmiSession`]: a raw AMI session for checks made beside the product;
//! - [`free_udp_port`] / [`free_tcp_port`];
//! - [`chromium`]: a DevTools client driving headless Chromium (pages, the
//!   extension's service worker, trusted clicks, screenshots);
//! - [`extension`]: the built extension (`dist/extension/`) and a Chromium
//!   running it; [`crm_pages`]: RD Station-shaped pages served on loopback;
//! - [`crm`]: a backend's tenant connected to the RD Station stand-in, and
//!   calls ended the way the PBX tracker ends them.
//!
//! Running Asterisk needs root (chroot(2)) and a provisioned root; the system
//! tests of the workspace live in this crate's `tests/` directory.

pub mod ami;
pub mod chromium;
pub mod crm;
pub mod crm_pages;
pub mod extension;
pub mod faults;
pub mod host;
pub mod instance;
pub mod limited;
pub mod machine;
pub mod pbx;
pub mod ports;
pub mod procfs;
pub mod render;
pub mod root;
pub mod screenshots;
pub mod sip;
pub mod system;

pub use ami::{AmiMessage, AmiSession};
pub use instance::PbxInstance;
pub use pbx::{TestPbx, TestPbxOptions};
pub use ports::{free_tcp_port, free_udp_port};
pub use root::AsteriskRoot;
pub use sip::{PeerBehavior, ReceivedInvite, SipPeer};
