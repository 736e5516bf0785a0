//! "Did you mean ...?" hints: the closest candidate by edit distance, when it is close
//! enough that the typo is the likely explanation.

/// Words longer than this get no suggestion: they are not typos of names people type.
const MAX_WORD: usize = 32;

/// Edit-distance cells one validation may spend on hints. A typical workflow uses a few
/// thousand; a hostile one (hundreds of near-miss references against a thousand step
/// ids) would otherwise spend seconds in a debug build. Past the budget, hints stop.
const BUDGET: usize = 2_000_000;

/// Computes hints within a work budget.
pub(crate) struct Suggester {
    budget: usize,
}

impl Suggester {
    pub(crate) fn new() -> Self {
        Suggester { budget: BUDGET }
    }

    /// `did you mean `x`?` for the closest candidate, else `None`.
    pub(crate) fn did_you_mean<'c>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Option<String> {
        self.closest(word, candidates)
            .map(|c| format!("did you mean `{c}`?"))
    }

    /// The candidate nearest to `word`, if it is within a third of the word's length
    /// (at least one edit). Ties go to the earliest candidate.
    fn closest<'c>(
        &mut self,
        word: &str,
        candidates: impl IntoIterator<Item = &'c str>,
    ) -> Option<&'c str> {
        let word: Vec<char> = word.chars().collect();
        if word.len() > MAX_WORD {
            return None;
        }
        let limit = (word.len() / 3).max(1);
        let mut best: Option<(usize, &str)> = None;
        for candidate in candidates {
            let other: Vec<char> = candidate.chars().collect();
            // The length difference is a lower bound of the distance: skip the hopeless.
            if other.len().abs_diff(word.len()) > limit {
                continue;
            }
            let cost = (word.len() + 1) * (other.len() + 1);
            if cost > self.budget {
                return None;
            }
            self.budget -= cost;
            let d = distance(&word, &other);
            if d <= limit && best.is_none_or(|(b, _)| d < b) {
                best = Some((d, candidate));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and
/// transpositions of neighbours each cost one, which matches how people mistype keys.
fn distance(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(a: &str, b: &str) -> usize {
        distance(
            &a.chars().collect::<Vec<_>>(),
            &b.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn counts_edits_and_transpositions() {
        assert_eq!(dist("nedds", "needs"), 1);
        assert_eq!(dist("deplyo", "deploy"), 1);
        assert_eq!(dist("", "abc"), 3);
        assert_eq!(dist("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["id", "plugin", "needs", "with"];
        let mut hints = Suggester::new();
        assert_eq!(hints.closest("nedds", keys), Some("needs"));
        assert_eq!(hints.closest("plugni", keys), Some("plugin"));
        assert_eq!(hints.closest("zzzzzz", keys), None);
        let long = "needs".repeat(10);
        assert_eq!(hints.closest(&long, [long.as_str()]), None);
        assert_eq!(
            hints.did_you_mean("wiht", keys).as_deref(),
            Some("did you mean `with`?")
        );
    }

    #[test]
    fn hints_stop_when_the_budget_is_spent() {
        let mut hints = Suggester::new();
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("{}{i:04}", "q".repeat(26)))
            .collect();
        let word = "q".repeat(30);
        let mut answered = 0;
        for _ in 0..200 {
            answered += usize::from(
                hints
                    .closest(&word, ids.iter().map(String::as_str))
                    .is_some(),
            );
        }
        assert!(answered > 0 && answered < 200, "{answered}");
    }
}
