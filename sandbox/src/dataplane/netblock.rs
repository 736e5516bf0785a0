//! The loopback addresses one sandbox's data plane uses: a /24 of 127.0.0.0/8 chosen at
//! random the first time the sandbox starts and kept in `net.json`, so addresses survive
//! `down`/`up` and several sandboxes (parallel tests, two users) do not collide.
//!
//! Layout of `127.A.B.0/24`: `.1`–`.100` accelerator static IPs (two per accelerator),
//! `.101`–`.200` ALBs (one address each, listener ports as declared), `.201`–`.254`
//! pods (each pod an address and port from the data plane's allocation).

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::persist;

pub const NET_FILE: &str = "net.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetBlock {
    /// Second octet, 100–199.
    pub a: u8,
    /// Third octet.
    pub b: u8,
}

impl NetBlock {
    /// The block saved in `dir`, or a new random one (saved).
    pub fn load_or_new(dir: &Path) -> Result<Self> {
        let path = dir.join(NET_FILE);
        if let Some(block) = persist::load::<NetBlock>(&path)? {
            return Ok(block);
        }
        let mut bytes = [0u8; 2];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
        let block = NetBlock {
            a: 100 + bytes[0] % 100,
            b: bytes[1],
        };
        persist::save(&path, &block)?;
        Ok(block)
    }

    fn host(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.a, self.b, n)
    }

    /// The `i`-th accelerator's two static IPs (i from 0; at most 50 accelerators).
    pub fn accelerator_ips(&self, i: u32) -> Option<[Ipv4Addr; 2]> {
        (i < 50).then(|| [self.host(1 + 2 * i as u8), self.host(2 + 2 * i as u8)])
    }

    /// The `i`-th ALB's address (at most 100).
    pub fn alb_ip(&self, i: u32) -> Option<Ipv4Addr> {
        (i < 100).then(|| self.host(101 + i as u8))
    }

    /// The `i`-th pod address (54 addresses; pods share them on different ports).
    pub fn pod_ip(&self, i: u32) -> Ipv4Addr {
        self.host(201 + (i % 54) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_kept_and_addresses_do_not_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let block = NetBlock::load_or_new(dir.path()).unwrap();
        assert_eq!(NetBlock::load_or_new(dir.path()).unwrap(), block);
        assert!((100..200).contains(&block.a));
        let [x, y] = block.accelerator_ips(49).unwrap();
        assert_eq!((x.octets()[3], y.octets()[3]), (99, 100));
        assert!(block.accelerator_ips(50).is_none());
        assert_eq!(block.alb_ip(0).unwrap().octets()[3], 101);
        assert_eq!(block.alb_ip(99).unwrap().octets()[3], 200);
        assert_eq!(block.pod_ip(0).octets()[3], 201);
        assert_eq!(block.pod_ip(53).octets()[3], 254);
    }
}
