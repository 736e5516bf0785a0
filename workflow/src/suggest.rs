//! "Did you mean ...?" hints: the closest candidate by edit distance, when it is close
//! enough that the typo is the likely explanation.

/// The candidate nearest to `word`, if it is within a third of the word's length
/// (at least one edit). Ties go to the earliest candidate.
pub(crate) fn closest<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, else `None`.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and
/// transpositions of neighbours each cost one, which matches how people mistype keys.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
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

    #[test]
    fn counts_edits_and_transpositions() {
        assert_eq!(distance("nedds", "needs"), 1);
        assert_eq!(distance("deplyo", "deploy"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_only_close_candidates() {
        let keys = ["id", "plugin", "needs", "with"];
        assert_eq!(closest("nedds", keys), Some("needs"));
        assert_eq!(closest("plugni", keys), Some("plugin"));
        assert_eq!(closest("zzzzzz", keys), None);
        assert_eq!(
            did_you_mean("wiht", keys).as_deref(),
            Some("did you mean `with`?")
        );
    }
}
