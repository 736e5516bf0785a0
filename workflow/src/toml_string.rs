//! Maps byte offsets in a decoded TOML string back to the file, so a diagnostic about a
//! `${` or a condition token points at the character the user typed, even after escapes
//! such as `\u0041` or a line-ending backslash.

/// Walks a string token forward, translating offsets in its value into offsets in the
/// token. Offsets asked for in increasing order cost one pass over the token in total,
/// which keeps a string with many references linear.
pub(crate) struct StringOffsets<'r> {
    raw: &'r str,
    basic: bool,
    /// Where the value starts in `raw`, so the walk can restart.
    start: usize,
    /// The walk's position: `pos` in `raw` corresponds to `out` in the value.
    pos: usize,
    out: usize,
}

impl<'r> StringOffsets<'r> {
    /// `raw` is the string token as written, quotes included.
    pub(crate) fn new(raw: &'r str) -> Self {
        let (open, basic) = if raw.starts_with("\"\"\"") {
            (3, true)
        } else if raw.starts_with("'''") {
            (3, false)
        } else if raw.starts_with('"') {
            (1, true)
        } else if raw.starts_with('\'') {
            (1, false)
        } else {
            (0, false)
        };
        let mut start = open;
        if open == 3 {
            // A newline right after the opening delimiter is not part of the value.
            if raw[start..].starts_with("\r\n") {
                start += 2;
            } else if raw[start..].starts_with('\n') {
                start += 1;
            }
        }
        StringOffsets {
            raw,
            basic,
            start,
            pos: start,
            out: 0,
        }
    }

    /// Offset in the token of byte `decoded` of the value.
    pub(crate) fn offset(&mut self, decoded: usize) -> usize {
        if !self.basic {
            return (self.start + decoded).min(self.raw.len());
        }
        if decoded < self.out {
            self.pos = self.start;
            self.out = 0;
        }
        let bytes = self.raw.as_bytes();
        let continuation = |pos: usize| {
            bytes[pos] == b'\\' && matches!(bytes.get(pos + 1), Some(b' ' | b'\t' | b'\r' | b'\n'))
        };
        // Also step over line-ending backslashes at the target: they produce no characters,
        // and the offset should land on the character that follows them.
        while self.pos < self.raw.len() && (self.out < decoded || continuation(self.pos)) {
            let (raw_len, value_len) = self.next_char();
            self.pos += raw_len;
            self.out += value_len;
        }
        self.pos.min(self.raw.len())
    }

    /// Length in the token and in the value of what starts at `pos`.
    fn next_char(&self) -> (usize, usize) {
        let (raw, pos) = (self.raw, self.pos);
        let bytes = raw.as_bytes();
        if bytes[pos] != b'\\' {
            let len = raw[pos..].chars().next().map_or(1, char::len_utf8);
            return (len, len);
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
        match bytes.get(pos + 1) {
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
        }
    }
}

/// [`StringOffsets`] for a string token at `span` of the file, giving file spans.
pub(crate) struct StringSpans<'r> {
    base: usize,
    offsets: StringOffsets<'r>,
}

impl<'r> StringSpans<'r> {
    pub(crate) fn new(source: &'r str, span: std::ops::Range<usize>) -> Self {
        StringSpans {
            base: span.start,
            offsets: StringOffsets::new(&source[span]),
        }
    }

    /// The file span of `range`, a byte range in the string's value.
    pub(crate) fn span(&mut self, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
        self.base + self.offsets.offset(range.start)..self.base + self.offsets.offset(range.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(raw: &str, decoded: usize) -> usize {
        StringOffsets::new(raw).offset(decoded)
    }

    #[test]
    fn literal_strings_only_skip_their_delimiters() {
        assert_eq!(offset("'ab${x}'", 2), 3);
        assert_eq!(offset("'''\nab${x}'''", 2), 6);
    }

    #[test]
    fn basic_strings_account_for_escapes() {
        // value: `A\t${`  (A from \u0041, then a tab)
        assert_eq!(offset(r#""\u0041\t${x}""#, 2), 9);
        assert_eq!(offset("\"\"\"\nab \\\n    ${x}\"\"\"", 3), 13);
        assert_eq!(offset(r#""é${x}""#, 2), 3);
    }

    #[test]
    fn offsets_can_be_asked_in_any_order() {
        let mut offsets = StringOffsets::new(r#""\n${a} \t${b}""#);
        assert_eq!(offsets.offset(1), 3);
        assert_eq!(offsets.offset(8), 11);
        assert_eq!(offsets.offset(1), 3);
    }
}
