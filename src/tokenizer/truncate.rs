//! Truncation of an encoding as transformers' `truncation=True` ("longest_first").

use super::Encoding;

/// See [`BertTokenizer::truncate`].
pub(super) fn truncate(enc: Encoding, max_len: usize) -> (Encoding, bool) {
    let n = enc.len();
    if n <= max_len {
        return (enc, false);
    }
    // Each maximal run of non-special tokens is one text: (run index, position in the run).
    let mut runs: Vec<usize> = Vec::new();
    let mut after_special = true;
    let place: Vec<Option<(usize, usize)>> = (enc.special.iter())
        .map(|&special| {
            if special {
                after_special = true;
                return None;
            }
            if after_special {
                runs.push(0);
                after_special = false;
            }
            let r = runs.len() - 1;
            runs[r] += 1;
            Some((r, runs[r] - 1))
        })
        .collect();
    let budget = max_len.saturating_sub(n - runs.iter().sum::<usize>());
    let keep = keep_lengths(&runs, budget);
    let kept: Vec<usize> = (0..n).filter(|&i| place[i].is_none_or(|(r, p)| p < keep[r])).collect();
    let cut = kept.len() < n;
    (enc.select(&kept), cut)
}

/// How many tokens of each text to keep so that they total at most `budget`.
fn keep_lengths(runs: &[usize], budget: usize) -> Vec<usize> {
    match *runs {
        [a] => vec![a.min(budget)],
        // Exactly tokenizers' LongestFirst: the shorter text is cut only when it exceeds half the budget,
        // and then the longer one keeps the odd token.
        [a, b] => {
            let (short, long) = (a.min(b), a.max(b));
            let (keep_short, keep_long) = if 2 * short > budget {
                (budget / 2, budget / 2 + budget % 2)
            } else {
                (short, (budget - short).min(long))
            };
            if a > b {
                vec![keep_long, keep_short]
            } else {
                vec![keep_short, keep_long]
            }
        }
        // A custom template with more texts: take one token at a time from the longest.
        _ => {
            let mut keep = runs.to_vec();
            while keep.iter().sum::<usize>() > budget {
                let longest = (0..keep.len()).max_by_key(|&i| keep[i]).unwrap_or(0);
                keep[longest] -= 1;
            }
            keep
        }
    }
}
