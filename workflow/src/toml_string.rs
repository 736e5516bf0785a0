//! Maps a byte offset in a decoded TOML string back to the file, so a diagnostic about a
//! `${` or a condition token points at the character the user typed, even after escapes
//! such as `\u0041` or a line-ending backslash.

/// Offset in `raw` (the string token as written, quotes included) of the byte at
/// `decoded` in the string's value.
pub(crate) fn source_offset(raw: &str, decoded: usize) -> usize {
    let (open, basic) = if raw.starts_with("\"\"\"") {
        (3, true)
    } else if raw.starts_with("'''") {
        (3, false)
    } else if raw.starts_with('"') {
        (1, true)
    } else if raw.starts_with('\'') {
        (1, false)
    } else {
        return decoded.min(raw.len());
    };
    let mut pos = open;
    if open == 3 {
        // A newline right after the opening delimiter is not part of the value.
        if raw[pos..].starts_with("\r\n") {
            pos += 2;
        } else if raw[pos..].starts_with('\n') {
            pos += 1;
        }
    }
    if !basic {
        return (pos + decoded).min(raw.len());
    }
    let bytes = raw.as_bytes();
    let mut out = 0;
    let continuation = |pos: usize| {
        bytes[pos] == b'\\' && matches!(bytes.get(pos + 1), Some(b' ' | b'\t' | b'\r' | b'\n'))
    };
    // Also step over line-ending backslashes at the target: they produce no characters,
    // and the offset should land on the character that follows them.
    while pos < raw.len() && (out < decoded || continuation(pos)) {
        if bytes[pos] != b'\\' {
            let len = raw[pos..].chars().next().map_or(1, char::len_utf8);
            pos += len;
            out += len;
            continue;
        }
        let hex_escape = |digits: usize| {
            let value = raw
                .get(pos + 2..pos + 2 + digits)
                .and_then(|h| u32::from_str_radix(h, 16).ok());
            (
                2 + digits,
                value.and_then(char::from_u32).map_or(1, char::len_utf8),
            )
        };
        let (raw_len, value_len) = match bytes.get(pos + 1) {
            Some(b'u') => hex_escape(4),
            Some(b'U') => hex_escape(8),
            Some(b'x') => hex_escape(2),
            Some(b' ' | b'\t' | b'\r' | b'\n') => {
                // Line-ending backslash: it and the whitespace after it vanish.
                let skipped = raw[pos + 1..]
                    .find(|c: char| !matches!(c, ' ' | '\t' | '\r' | '\n'))
                    .unwrap_or(raw.len() - pos - 1);
                (1 + skipped, 0)
            }
            _ => (2, 1),
        };
        pos += raw_len;
        out += value_len;
    }
    pos.min(raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_strings_only_skip_their_delimiters() {
        assert_eq!(source_offset("'ab${x}'", 2), 3);
        assert_eq!(source_offset("'''\nab${x}'''", 2), 6);
    }

    #[test]
    fn basic_strings_account_for_escapes() {
        // value: `A\t${`  (A from \u0041, then a tab)
        assert_eq!(source_offset(r#""\u0041\t${x}""#, 2), 9);
        assert_eq!(source_offset("\"\"\"\nab \\\n    ${x}\"\"\"", 3), 13);
        assert_eq!(source_offset(r#""é${x}""#, 2), 3);
    }
}
