//! Text helpers: cutting untrusted text to a byte cap before any other work
//! on it, and suggesting the name someone probably meant.

use std::borrow::Cow;

/// `text` cut to at most `max` bytes on a character boundary, with `…` when
/// something was cut. Cutting comes before any escaping or redaction, so a
/// hostile line costs no more than the cap.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…", &text[..cut]))
}

/// The candidate closest to `name` by edit distance, when it is close
/// enough to be a likely misspelling (at most a third of its length apart,
/// and at least one edit).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let allowed = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` when a candidate is close to `name`, else nothing.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(name, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Edit distance over characters, counting an insertion, a deletion, a
/// substitution or a swap of two neighbours (`pnig` for `ping`) as one edit
/// (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the distance table: two back, one back, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_and_far_ones_not() {
        let known = ["employees-read", "departments-read", "positions-read"];
        assert_eq!(did_you_mean("employee-read", known), Some("employees-read"));
        assert_eq!(did_you_mean("positons-read", known), Some("positions-read"));
        assert_eq!(did_you_mean("payroll-write", known), None);
        assert_eq!(suggestion("x", known), "");
        assert_eq!(did_you_mean("pnig", ["ping", "pong"]), Some("ping"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("pnig", "ping"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("crews-read", "crews-read"), 0);
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("hi", 8), "hi");
    }
}
