//! Problems found in a workflow, each tied to the place a user has to fix.
//!
//! Rendering follows rustc's layout (message, `-->` location, the source line with carets
//! under the offending text, an optional help line) because that is what people already
//! know how to read; the JSON form carries the same fields for editors and CI.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Columns a tab occupies when a source line is echoed, so carets stay aligned.
const TAB_WIDTH: usize = 4;

/// One problem, with its position in the workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The workflow file, as the caller named it.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem has no position in the file (a `--var` override,
    /// an unreadable or oversized file).
    pub line: usize,
    /// 1-based column, counted in characters; 0 when `line` is 0.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
    /// The text of `line` (without its line break), echoed under the location. A line
    /// longer than 120 characters is cut to a window around the problem, marked with `…`.
    pub source_line: String,
    /// 1-based column in `source_line` where the carets start: `col`, unless the line
    /// was cut.
    pub caret_col: usize,
    /// How many characters of `source_line` the carets underline (at least 1 when the
    /// diagnostic has a position, 0 otherwise).
    pub width: usize,
}

impl Diagnostic {
    /// A problem at byte range `span` of `source`.
    pub(crate) fn at(
        file: &Path,
        source: &SourceText<'_>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, col, text, width) = source.locate(span);
        let (source_line, caret_col, width) = excerpt(text, col, width);
        Diagnostic {
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
            help: None,
            source_line,
            caret_col,
            width,
        }
    }

    /// A problem with no position in the file.
    pub(crate) fn unplaced(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
            help: None,
            source_line: String::new(),
            caret_col: 0,
            width: 0,
        }
    }

    pub(crate) fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// The diagnostic as JSON, for `--output json` and editors.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file.display().to_string(),
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "help": self.help,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        let pad = if self.line == 0 {
            1
        } else {
            self.line.to_string().len()
        };
        if self.line == 0 {
            write!(f, "\n{:pad$}--> {}", "", self.file.display())?;
        } else {
            let (shown, prefix, carets) =
                caret_layout(&self.source_line, self.caret_col, self.width);
            write!(
                f,
                "\n{:pad$}--> {}:{}:{}",
                "",
                self.file.display(),
                self.line,
                self.col
            )?;
            write!(f, "\n{:pad$} |", "")?;
            write!(f, "\n{} | {}", self.line, shown)?;
            write!(f, "\n{:pad$} | {:prefix$}{}", "", "", "^".repeat(carets))?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n{:pad$} = help: {help}", "")?;
        }
        Ok(())
    }
}

/// Longest source line echoed in full, in characters.
const MAX_EXCERPT: usize = 120;
/// Characters kept before the problem when a long line is cut.
const EXCERPT_LEAD: usize = 40;

/// `line`, cut to a window around column `col` if it is long (a minified or generated
/// file must not turn each diagnostic into a copy of a megabyte-long line), with the
/// caret column and width adjusted to the window.
fn excerpt(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let total = line.chars().count();
    if total <= MAX_EXCERPT {
        return (line.to_owned(), col, width);
    }
    let first = (col - 1).saturating_sub(EXCERPT_LEAD);
    let last = (first + MAX_EXCERPT).min(total);
    let byte = |nth: usize| line.char_indices().nth(nth).map_or(line.len(), |(i, _)| i);
    let mut shown = String::new();
    let mut caret_col = col - first;
    if first > 0 {
        shown.push('…');
        caret_col += 1;
    }
    shown.push_str(&line[byte(first)..byte(last)]);
    if last < total {
        shown.push('…');
    }
    let width = width.min(last.saturating_sub(col - 1)).max(1);
    (shown, caret_col, width)
}

/// The source line as displayed (tabs expanded), the display column where the carets
/// start, and how many carets to draw.
fn caret_layout(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let display_width = |c: char| if c == '\t' { TAB_WIDTH } else { 1 };
    let shown: String = line
        .chars()
        .map(|c| {
            if c == '\t' {
                " ".repeat(TAB_WIDTH)
            } else {
                c.to_string()
            }
        })
        .collect();
    let prefix = line
        .chars()
        .take(col.saturating_sub(1))
        .map(display_width)
        .sum();
    let carets = line
        .chars()
        .skip(col.saturating_sub(1))
        .take(width)
        .map(display_width)
        .sum::<usize>();
    (shown, prefix, carets.max(1))
}

/// Every problem found in one workflow file. Its `Display` is the full human rendering,
/// ending with a line that counts the problems.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Report {
    file: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report on `file`; diagnostics are sorted by position, problems without a position
    /// (command-line input) last.
    pub(crate) fn new(file: &Path, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.line == 0, d.line, d.col));
        Report {
            file: file.to_path_buf(),
            diagnostics,
        }
    }

    /// The workflow file the report is about.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The problems, in file order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// `{"file": ..., "count": N, "diagnostics": [{file, line, col, message, help}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file.display().to_string(),
            "count": self.diagnostics.len(),
            "diagnostics": self.diagnostics.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.diagnostics {
            write!(f, "{diagnostic}\n\n")?;
        }
        let count = self.diagnostics.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "error: {count} {noun} in {}", self.file.display())
    }
}

/// Validation stops collecting problems after this many: a hostile or generated file
/// could otherwise produce a report far larger than itself, slowly.
pub(crate) const MAX_DIAGNOSTICS: usize = 200;

/// Collects the problems of one validation pass, up to [`MAX_DIAGNOSTICS`].
pub(crate) struct Collector {
    file: PathBuf,
    diagnostics: Vec<Diagnostic>,
    /// Set once a problem was dropped, or work skipped, because the collector was full.
    truncated: bool,
}

impl Collector {
    pub(crate) fn new(file: &Path) -> Self {
        Collector {
            file: file.to_path_buf(),
            diagnostics: Vec::new(),
            truncated: false,
        }
    }

    /// Records a problem at byte range `span` of `text`.
    pub(crate) fn at(
        &mut self,
        text: &SourceText<'_>,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        if !self.is_full() {
            let diagnostic = Diagnostic::at(&self.file, text, span, message).with_help(help);
            self.diagnostics.push(diagnostic);
        }
    }

    /// Records a problem that has no position in the file.
    pub(crate) fn unplaced(&mut self, message: impl Into<String>, help: Option<String>) {
        if !self.is_full() {
            self.diagnostics
                .push(Diagnostic::unplaced(&self.file, message).with_help(help));
        }
    }

    /// Whether the collector takes no more problems. Loops over input of unbounded length
    /// stop early then, so the work after the limit stays small.
    pub(crate) fn is_full(&mut self) -> bool {
        let full = self.diagnostics.len() >= MAX_DIAGNOSTICS;
        self.truncated |= full;
        full
    }

    /// `Ok` when nothing was found, else the report (noting when it stopped early).
    pub(crate) fn finish(mut self) -> Result<(), Report> {
        if self.truncated {
            let message =
                format!("stopped after {MAX_DIAGNOSTICS} problems; fix these and validate again");
            self.diagnostics
                .push(Diagnostic::unplaced(&self.file, message));
        }
        if self.diagnostics.is_empty() {
            Ok(())
        } else {
            Err(Report::new(&self.file, self.diagnostics))
        }
    }
}

/// Workflow source text with its line starts, to turn byte offsets into line:col.
pub(crate) struct SourceText<'s> {
    text: &'s str,
    line_starts: Vec<usize>,
}

impl<'s> SourceText<'s> {
    pub(crate) fn new(text: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceText { text, line_starts }
    }

    pub(crate) fn text(&self) -> &'s str {
        self.text
    }

    /// 1-based line of byte `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset)
    }

    /// 1-based line and column of `span.start`, the text of that line, and how many
    /// characters of the span lie on it (at least 1).
    fn locate(&self, span: Range<usize>) -> (usize, usize, &'s str, usize) {
        let start = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let end = floor_char_boundary(self.text, span.end.clamp(start, self.text.len()));
        let index = self.line_starts.partition_point(|&s| s <= start) - 1;
        let line_start = self.line_starts[index];
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = self.text[line_start..line_end].trim_end_matches('\r');
        let col = self.text[line_start..start].chars().count() + 1;
        let width = self.text[start..end.min(line_end).max(start)]
            .chars()
            .count();
        (index + 1, col, line, width.max(1))
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc_with_a_two_digit_line() {
        let source: String = (1..=11)
            .map(|i| format!("# line {i}\n"))
            .collect::<String>()
            + "nedds = [\"a\"]\n";
        let text = SourceText::new(&source);
        let start = source.find("nedds").unwrap();
        let d = Diagnostic::at(
            Path::new("workflows/x.toml"),
            &text,
            start..start + 5,
            "unknown key `nedds` in step `deploy`",
        )
        .with_help(Some("did you mean `needs`?".into()));
        assert_eq!(
            d.to_string(),
            "error: unknown key `nedds` in step `deploy`\n  --> workflows/x.toml:12:1\n   |\n12 | nedds = [\"a\"]\n   | ^^^^^\n   = help: did you mean `needs`?"
        );
    }

    #[test]
    fn carets_stay_aligned_after_tabs_and_multibyte_text() {
        let source = "\tx = \"é${vars.y}\"\n";
        let text = SourceText::new(source);
        let start = source.find("${").unwrap();
        let d = Diagnostic::at(Path::new("w.toml"), &text, start..start + 9, "m");
        assert_eq!((d.line, d.col, d.width), (1, 8, 9));
        assert!(
            d.to_string()
                .contains("1 |     x = \"é${vars.y}\"\n  |           ^^^^^^^^^"),
            "{d}"
        );
    }

    #[test]
    fn a_span_over_several_lines_is_underlined_to_the_end_of_its_first_line() {
        let text = SourceText::new("a = [\n  1,\n]\n");
        let d = Diagnostic::at(Path::new("w.toml"), &text, 4..13, "m");
        assert_eq!(
            (d.line, d.col, d.width, d.source_line.as_str()),
            (1, 5, 1, "a = [")
        );
    }

    #[test]
    fn a_long_line_is_cut_around_the_problem() {
        let source = format!(
            "x = [{}\"${{vars.nope}}\", {}]\n",
            "1, ".repeat(100),
            "2, ".repeat(100)
        );
        let text = SourceText::new(&source);
        let start = source.find("${").unwrap();
        let d = Diagnostic::at(Path::new("w.toml"), &text, start..start + 12, "m");
        assert_eq!((d.line, d.col, d.caret_col, d.width), (1, 307, 42, 12));
        assert_eq!(d.source_line.chars().count(), 122);
        assert!(
            d.source_line.starts_with("…1, ") && d.source_line.ends_with("2,…"),
            "{}",
            d.source_line
        );
        let rendered = d.to_string();
        let carets = rendered.lines().nth(4).unwrap();
        assert_eq!(carets, format!("  | {}^^^^^^^^^^^^", " ".repeat(41)));
        assert_eq!(
            &d.source_line[d.source_line.char_indices().nth(41).unwrap().0..][..12],
            "${vars.nope}"
        );
    }

    #[test]
    fn report_counts_problems_and_puts_unplaced_ones_last() {
        let text = SourceText::new("a = 1\nb = 2\n");
        let file = Path::new("w.toml");
        let report = Report::new(
            file,
            vec![
                Diagnostic::unplaced(file, "no variable `z`"),
                Diagnostic::at(file, &text, 6..7, "second"),
                Diagnostic::at(file, &text, 0..1, "first"),
            ],
        );
        let messages: Vec<_> = report
            .diagnostics()
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(messages, ["first", "second", "no variable `z`"]);
        let rendered = report.to_string();
        assert!(
            rendered
                .ends_with("error: no variable `z`\n --> w.toml\n\nerror: 3 problems in w.toml"),
            "{rendered}"
        );
        assert_eq!(report.to_json()["diagnostics"][1]["line"], 2);
        assert_eq!(report.to_json()["count"], 3);
    }
}
