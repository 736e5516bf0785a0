//! DNS name comparison as Route 53 does it: case-insensitive, trailing dot optional,
//! and `\ddd` octal escapes (Route 53 returns `*` as `\052`) equal to their character.

/// The canonical form of a name: lower case, unescaped, without the trailing dot.
pub fn norm(name: &str) -> String {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..=i + 3]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let code = bytes[i + 1..=i + 3]
                .iter()
                .fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
            if let Some(c) = char::from_u32(code) {
                out.push(c);
                i += 4;
                continue;
            }
        }
        // Multi-byte characters are copied whole: names are ASCII in practice.
        let c = name[i..].chars().next().unwrap_or('?');
        out.push(c);
        i += c.len_utf8();
    }
    out.to_ascii_lowercase()
}

/// Do two names denote the same DNS name?
pub fn same(a: &str, b: &str) -> bool {
    norm(a) == norm(b)
}

/// Is `record` the zone's apex or a name below it?
pub fn inside(record: &str, zone: &str) -> bool {
    let (record, zone) = (norm(record), norm(zone));
    record == zone || record.ends_with(&format!(".{zone}"))
}

/// The fully qualified form Route 53 writes: canonical, with the trailing dot.
pub fn fqdn(name: &str) -> String {
    format!("{}.", norm(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_like_route53() {
        assert!(same(
            "Multi-Region.Example.com",
            "multi-region.example.com."
        ));
        assert!(same("\\052.example.com.", "*.example.com"));
        assert!(!same("a.example.com", "b.example.com"));
        assert_eq!(fqdn("WWW.example.com"), "www.example.com.");
        assert_eq!(norm("a\\05"), "a\\05");
    }

    #[test]
    fn inside_the_zone() {
        assert!(inside("multi-region.example.com", "example.com."));
        assert!(inside("example.com.", "Example.com"));
        assert!(!inside("badexample.com", "example.com"));
        assert!(!inside("example.org", "example.com"));
    }
}
