//! "Did you mean …?": the known ids closest to one that was mistyped.

/// Most ids suggested for one mistyped id.
pub const MAX_SUGGESTIONS: usize = 3;

/// Edit distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of two neighbouring characters each count 1).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        if let Some(first) = row.first_mut() {
            *first = i;
        }
    }
    if let Some(first) = rows.first_mut() {
        for (j, cell) in first.iter_mut().enumerate() {
            *cell = j;
        }
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let same = a.get(i - 1) == b.get(j - 1);
            let at = |r: &Vec<Vec<usize>>, x: usize, y: usize| {
                r.get(x)
                    .and_then(|row| row.get(y))
                    .copied()
                    .unwrap_or(usize::MAX - 1)
            };
            let mut d = (at(&rows, i - 1, j) + 1)
                .min(at(&rows, i, j - 1) + 1)
                .min(at(&rows, i - 1, j - 1) + usize::from(!same));
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                d = d.min(at(&rows, i - 2, j - 2) + 1);
            }
            if let Some(cell) = rows.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = d;
            }
        }
    }
    rows.get(a.len())
        .and_then(|r| r.get(b.len()))
        .copied()
        .unwrap_or(0)
}

/// The ids of `known` close enough to `typed` to be what was meant,
/// closest first (then in order), at most [`MAX_SUGGESTIONS`]. Close
/// enough: at most a fifth of the typed id's characters differ (at least
/// two are allowed).
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let limit = (typed.chars().count() / 5).max(2);
    let mut near: Vec<(usize, &str)> = known
        .into_iter()
        .filter(|k| *k != typed)
        .map(|k| (distance(typed, k), k))
        .filter(|(d, _)| *d <= limit)
        .collect();
    near.sort();
    near.dedup();
    near.into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, k)| k.to_owned())
        .collect()
}

/// The sentence that offers `near` ("Did you mean a or b?"); empty when
/// there is nothing to offer. [`offered`] reads it back.
pub fn did_you_mean(near: &[impl std::fmt::Display]) -> String {
    let ids: Vec<String> = near.iter().map(ToString::to_string).collect();
    match ids.as_slice() {
        [] => String::new(),
        [one] => format!(" Did you mean {one}?"),
        [rest @ .., last] => format!(" Did you mean {} or {last}?", rest.join(", ")),
    }
}

/// The ids a message offers with [`did_you_mean`], in order.
pub fn offered(message: &str) -> Vec<String> {
    let Some((_, after)) = message.rsplit_once("Did you mean ") else {
        return Vec::new();
    };
    let Some((list, _)) = after.split_once('?') else {
        return Vec::new();
    };
    list.split(", ")
        .flat_map(|part| part.split(" or "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("ph.pnp.bob", "ph.pnp.bob"), 0);
        assert_eq!(
            distance("ph.pnp.bbo", "ph.pnp.bob"),
            1,
            "a swap counts once"
        );
        assert_eq!(distance("ph.pnp.bo", "ph.pnp.bob"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_closest_ids_are_offered_and_read_back() {
        let known = ["ph.pnp.bob", "ph.pnp.rob", "th.dsi.alice", "ph.pnp.bobby"];
        let near = closest("ph.pnp.bbo", known);
        assert_eq!(near, ["ph.pnp.bob", "ph.pnp.rob"]);
        assert!(closest("vn.mps.lan", known).is_empty());
        let text = format!("unknown recipient ph.pnp.bbo.{}", did_you_mean(&near));
        assert_eq!(
            text,
            "unknown recipient ph.pnp.bbo. Did you mean ph.pnp.bob or ph.pnp.rob?"
        );
        assert_eq!(offered(&text), near);
        assert_eq!(
            offered(&did_you_mean(&["a.b.c", "a.b.d", "a.b.e"])),
            ["a.b.c", "a.b.d", "a.b.e"]
        );
        assert!(offered("nothing offered").is_empty());
        assert_eq!(did_you_mean(&[] as &[&str]), "");
    }
}
