//! Durations (`"1m30s"`) and byte sizes (`"64MiB"`) as written in workflow files.

use std::time::Duration;

/// What a duration may look like, for help messages.
pub(crate) const DURATION_HELP: &str = "write a duration such as \"500ms\", \"30s\", \"5m\", \"1h\" or \"1m30s\", or an integer number of seconds";

/// What a size may look like, for help messages.
pub(crate) const SIZE_HELP: &str = "write a size as an integer number of bytes or with a unit: \"512KiB\", \"64MiB\", \"1GiB\" (or KB, MB, GB, powers of 1000)";

/// Parses `<n><unit>` groups with units `h`, `m`, `s`, `ms`, each at most once and from
/// largest to smallest, so `"1m30s"` reads one way only.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = text;
    let mut millis: u64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let offset = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)?;
        let (_, scale) = UNITS[next_unit + offset];
        next_unit += offset + 1;
        millis = millis.checked_add(number.checked_mul(scale)?)?;
    }
    Some(Duration::from_millis(millis))
}

/// Parses `<n>` or `<n><unit>` with B, KB/MB/GB (powers of 1000) or KiB/MiB/GiB
/// (powers of 1024).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return None;
    }
    let number: u64 = text[..digits].parse().ok()?;
    let scale: u64 = match &text[digits..] {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(parse_duration("500ms"), ms(500));
        assert_eq!(parse_duration("30s"), ms(30_000));
        assert_eq!(parse_duration("5m"), ms(300_000));
        assert_eq!(parse_duration("1h"), ms(3_600_000));
        assert_eq!(parse_duration("1m30s"), ms(90_000));
        assert_eq!(parse_duration("1h2m3s4ms"), ms(3_723_004));
        for bad in [
            "",
            "30",
            "s",
            "1.5s",
            "30 s",
            "5x",
            "30s1m",
            "1s1s",
            "-1s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512KiB"), Some(512 * 1024));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("2MB"), Some(2_000_000));
        assert_eq!(parse_size("7KB"), Some(7_000));
        assert_eq!(parse_size("3GB"), Some(3_000_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("10B"), Some(10));
        for bad in [
            "",
            "MiB",
            "64 MiB",
            "64mib",
            "1.5GiB",
            "99999999999GiB",
            "1TiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
