//! Names through the sandbox's DNS server: with `--cloud sandbox`, a probe of
//! `multi-region.example.com` or an accelerator's `*.awsglobalaccelerator.com` name
//! resolves as it would on the internet, through the records the run itself made.
//! A minimal RFC 1035 client: one A question over UDP, answers read with compression.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The A records `server` gives for `name`; empty when it has none (NXDOMAIN, REFUSED,
/// NODATA), an error when it does not answer in time.
pub async fn a_records(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> std::io::Result<Vec<Ipv4Addr>> {
    let id: u16 = (std::process::id() as u16) ^ 0x5a5a;
    let query = build_query(id, name)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a DNS name"))?;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    socket.send_to(&query, server).await?;
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(timeout, socket.recv(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no DNS answer"))??;
    Ok(parse_a(&buf[..n], id).unwrap_or_default())
}

fn build_query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    Some(q)
}

/// Skips a (possibly compressed) name; the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)? as usize;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + l,
        }
    }
}

fn parse_a(msg: &[u8], id: u16) -> Option<Vec<Ipv4Addr>> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[3] & 0x0f != 0 {
        return None;
    }
    let questions = u16::from_be_bytes([msg[4], msg[5]]);
    let answers = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let rtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
        let len = u16::from_be_bytes([*msg.get(at + 8)?, *msg.get(at + 9)?]) as usize;
        let data = msg.get(at + 10..at + 10 + len)?;
        if rtype == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compressed_answers_and_refuses_strangers() {
        let mut msg = build_query(7, "a.example.com").unwrap();
        msg[2] = 0x81; // response
        msg[7] = 2; // two answers
        for ip in [[127, 1, 2, 3], [127, 1, 2, 4]] {
            msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            msg.extend_from_slice(&ip);
        }
        assert_eq!(
            parse_a(&msg, 7).unwrap(),
            [Ipv4Addr::new(127, 1, 2, 3), Ipv4Addr::new(127, 1, 2, 4)]
        );
        assert!(parse_a(&msg, 8).is_none(), "another query's id");
        assert!(parse_a(&msg[..20], 7).is_none() || parse_a(&msg[..20], 7).unwrap().is_empty());
        assert!(build_query(1, "bad..name").is_none());
    }
}
