//! Identifiers and clocks in AWS's formats: random hex and UUIDs, Route 53's
//! upper-case ids, epoch milliseconds, ISO-8601 timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch; transitions store the instant they complete.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG cannot fail on Linux once booted; fall back to the clock just in case.
    if getrandom::fill(&mut buf).is_err() {
        let seed = now_ms().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = seed[i % 8].wrapping_add(i as u8);
        }
    }
    buf
}

/// `n` lower-case hex characters.
pub fn hex(n: usize) -> String {
    let bytes = random_bytes::<32>();
    hex::encode(bytes)[..n.min(64)].to_string()
}

/// A random (version 4) UUID.
pub fn uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` characters of [A-Z0-9], as in Route 53 zone and change ids.
pub fn upper_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    random_bytes::<32>()
        .iter()
        .take(n)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A random decimal number of `digits` digits, as in ALB DNS names.
pub fn decimal(digits: u32) -> u64 {
    let n = u64::from_le_bytes(random_bytes::<8>());
    let lo = 10u64.pow(digits - 1);
    lo + n % (lo * 9)
}

/// `2026-11-24T01:02:03.456Z`
pub fn iso8601(ms: u64) -> String {
    timestamp_ms(ms)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// `20261124T010203Z`, as SigV4 dates are written.
pub fn amz_date(secs: u64) -> String {
    timestamp_ms(secs.saturating_mul(1000))
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// A time in ms since the epoch; past the end of jiff's range (year 9999), its end.
fn timestamp_ms(ms: u64) -> jiff::Timestamp {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

/// Epoch seconds as awsJson timestamps carry them.
pub fn epoch_seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_251_200_123), "2024-03-01T00:00:00.123Z");
    }

    #[test]
    fn ids_have_aws_shapes() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(upper_alnum(21).len(), 21);
        assert_eq!(decimal(9).to_string().len(), 9);
        assert_eq!(hex(16).len(), 16);
    }
}
