//! Free loopback ports for PBXs and SIP peers that run side by side.
//!
//! The operating system picks a port that is free now; the port is released
//! before the caller binds it, so another process could take it in between
//! (rare on loopback). Within this process a port is never handed out twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::{LazyLock, Mutex};

static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// A UDP port on 127.0.0.1 that is free now.
pub fn free_udp_port() -> u16 {
    pick(|| {
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
    })
}

/// A TCP port on 127.0.0.1 that is free now.
pub fn free_tcp_port() -> u16 {
    pick(|| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
    })
}

fn pick(bind: impl Fn() -> std::io::Result<u16>) -> u16 {
    loop {
        let port = bind().expect("binding an ephemeral port on 127.0.0.1");
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let udp = free_udp_port();
        let tcp = free_tcp_port();
        assert_ne!(udp, tcp);
        UdpSocket::bind((Ipv4Addr::LOCALHOST, udp)).unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, tcp)).unwrap();
    }
}
