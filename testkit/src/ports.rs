//! Free loopback ports for PBXs and SIP peers that run side by side.
//!
//! Ports are picked outside the kernel's ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`) and above the test PBXs' RTP
//! range (20000–29999): a port the operating system hands to some socket
//! bound to port 0 — Chromium's ICE candidates, an outgoing connection —
//! can then never be the one a test is about to give to SIPp or a backend.
//! A port is checked free now and released before the caller binds it;
//! within this process a port is never handed out twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{LazyLock, Mutex};

static HANDED_OUT: LazyLock<Mutex<HashSet<u16>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

/// The lowest port handed out: above the test PBXs' RTP range.
const LOWEST: u16 = 30000;

/// A UDP port on 127.0.0.1 that is free now.
pub fn free_udp_port() -> u16 {
    pick(1, udp_free)
}

/// The first of `count` consecutive UDP ports on 127.0.0.1 that are free
/// now, e.g. for SIPp's media port `-mp`, which also binds the next ports
/// (RTCP, video).
pub fn free_udp_ports(count: u16) -> u16 {
    pick(count, udp_free)
}

/// A TCP port on 127.0.0.1 that is free now.
pub fn free_tcp_port() -> u16 {
    pick(1, |port| {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
    })
}

fn udp_free(port: u16) -> bool {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn pick(count: u16, free: impl Fn(u16) -> bool) -> u16 {
    let candidates = candidates(count, ephemeral_range());
    // Start somewhere else in each process, so that two test processes
    // seldom probe the same ports at the same moment.
    let start = (std::process::id() as usize).wrapping_mul(7919) % candidates.len();
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let found = candidates[start..]
        .iter()
        .chain(&candidates[..start])
        .copied()
        .find(|&first| {
            (first..=first + (count - 1)).all(|port| !handed_out.contains(&port) && free(port))
        })
        .expect("a free loopback port outside the ephemeral range");
    handed_out.extend(found..=found + (count - 1));
    found
}

/// First ports of `count` consecutive ports between [`LOWEST`] and 65535
/// that stay clear of the ephemeral range; any of them when that range
/// leaves none.
fn candidates(count: u16, ephemeral: RangeInclusive<u16>) -> Vec<u16> {
    let all = LOWEST..=u16::MAX - (count - 1);
    let clear: Vec<u16> = all
        .clone()
        .filter(|&first| {
            let last = first + (count - 1);
            last < *ephemeral.start() || first > *ephemeral.end()
        })
        .collect();
    if clear.is_empty() {
        all.collect()
    } else {
        clear
    }
}

/// The kernel's ephemeral port range; Linux's default when it cannot be read.
fn ephemeral_range() -> RangeInclusive<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(str::parse::<u16>);
            Some(bounds.next()?.ok()?..=bounds.next()?.ok()?)
        })
        .unwrap_or(32768..=60999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_not_ephemeral() {
        let udp = free_udp_port();
        let tcp = free_tcp_port();
        let block = free_udp_ports(4);
        assert_ne!(udp, tcp);
        assert!(!(block..block + 4).contains(&udp));
        UdpSocket::bind((Ipv4Addr::LOCALHOST, udp)).unwrap();
        TcpListener::bind((Ipv4Addr::LOCALHOST, tcp)).unwrap();
        for port in [udp, tcp, block, block + 3] {
            assert!(port >= LOWEST);
            assert!(!ephemeral_range().contains(&port), "{port} is ephemeral");
        }
    }

    #[test]
    fn blocks_stay_clear_of_the_ephemeral_range() {
        let candidates = candidates(4, 32768..=60999);
        assert_eq!(candidates.first(), Some(&30000));
        assert!(candidates.contains(&32764));
        assert!(!candidates.contains(&32765));
        assert!(!candidates.contains(&60999));
        assert_eq!(candidates[candidates.len() - 1], 65532);
        assert!(candidates.contains(&61000));
    }

    #[test]
    fn the_last_ports_can_be_handed_out() {
        let block = pick(4, |port| port >= u16::MAX - 3);
        assert_eq!(block, u16::MAX - 3);
    }
}
