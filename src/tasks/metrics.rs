//! Evaluation metrics as the Python tools compute them: accuracy and macro F1 (scikit-learn), entity-level
//! precision / recall / F1 (seqeval's default, non-strict mode) and SQuAD v1.1 exact match and F1.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

/// Fraction of equal pairs (0 for no pairs).
pub fn accuracy(gold: &[u32], pred: &[u32]) -> f64 {
    let n = gold.len().min(pred.len());
    if n == 0 {
        return 0.0;
    }
    gold.iter().zip(pred).filter(|(g, p)| g == p).count() as f64 / n as f64
}

/// Unweighted mean over labels of the per-label F1, as scikit-learn's `f1_score(average="macro")`: the
/// labels averaged are those below `n_labels` that occur in `gold` or `pred`.
pub fn macro_f1(gold: &[u32], pred: &[u32], n_labels: usize) -> f64 {
    // counts[label] = (true positives, false positives, false negatives)
    let mut counts = vec![(0usize, 0usize, 0usize); n_labels];
    for (&g, &p) in gold.iter().zip(pred) {
        if g == p {
            if let Some(c) = counts.get_mut(g as usize) {
                c.0 += 1;
            }
            continue;
        }
        if let Some(c) = counts.get_mut(p as usize) {
            c.1 += 1;
        }
        if let Some(c) = counts.get_mut(g as usize) {
            c.2 += 1;
        }
    }
    let f1s: Vec<f64> = (counts.iter())
        .filter(|c| c.0 + c.1 + c.2 > 0)
        .map(|&(tp, fp, fn_)| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
        .collect();
    if f1s.is_empty() {
        return 0.0;
    }
    f1s.iter().sum::<f64>() / f1s.len() as f64
}

/// Precision, recall and F1, each in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// An entity: (type, sentence, first tag index, last tag index).
type Entity = (String, usize, usize, usize);

/// The entities of one tag sequence as seqeval's `get_entities` finds them (IOB2/IOBES prefixes, not
/// strict): a chunk ends before `B`, `O`, `S` and a change of type, and starts at `B`, `S`, an `I`/`E`
/// after `O`/`E`/`S`, and any change of type. A tag without a prefix letter and dash (e.g. `PER`) is read
/// as seqeval does: its first character is the prefix.
pub fn entities(tags: &[String]) -> Vec<(String, usize, usize)> {
    let split = |t: &str| -> (char, String) {
        let mut chars = t.chars();
        let prefix = chars.next().unwrap_or('O');
        let rest = chars.as_str();
        let ty = rest.split_once('-').map_or(rest, |(_, ty)| ty);
        (prefix, if ty.is_empty() { "_".to_string() } else { ty.to_string() })
    };
    let (mut prev_tag, mut prev_type, mut begin) = ('O', String::new(), 0);
    let mut out = Vec::new();
    let end = "O".to_string();
    for (i, t) in tags.iter().chain(std::iter::once(&end)).enumerate() {
        let (tag, ty) = split(t);
        let ends = matches!(prev_tag, 'E' | 'S')
            || (matches!(prev_tag, 'B' | 'I') && matches!(tag, 'B' | 'S' | 'O'))
            || (prev_tag != 'O' && prev_tag != '.' && prev_type != ty);
        let starts = matches!(tag, 'B' | 'S')
            || (matches!(prev_tag, 'E' | 'S' | 'O') && matches!(tag, 'E' | 'I'))
            || (tag != 'O' && tag != '.' && prev_type != ty);
        if ends {
            out.push((prev_type.clone(), begin, i - 1));
        }
        if starts {
            begin = i;
        }
        (prev_tag, prev_type) = (tag, ty);
    }
    out
}

/// Micro-averaged entity precision / recall / F1 over all sentences, as seqeval's default
/// `precision_score`, `recall_score`, `f1_score`. Sentences pair up in order; 0 where a ratio has no
/// denominator.
pub fn entity_scores(gold_tags: &[Vec<String>], pred_tags: &[Vec<String>]) -> Prf {
    let collect = |sentences: &[Vec<String>]| -> HashSet<Entity> {
        (sentences.iter().enumerate())
            .flat_map(|(s, tags)| entities(tags).into_iter().map(move |(ty, a, b)| (ty, s, a, b)))
            .collect()
    };
    let (gold, pred) = (collect(gold_tags), collect(pred_tags));
    let tp = gold.intersection(&pred).count() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let (precision, recall) = (ratio(tp, pred.len() as f64), ratio(tp, gold.len() as f64));
    Prf {
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
    }
}

/// SQuAD's `normalize_answer`: lower case, ASCII punctuation removed, the words a / an / the removed,
/// whitespace collapsed to single spaces.
pub fn normalize_answer(s: &str) -> String {
    let lowered: String = s.to_lowercase().chars().filter(|c| !c.is_ascii_punctuation()).collect();
    // Articles as regex \b(a|an|the)\b: a maximal run of word characters equal to an article.
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(lowered.len());
    let mut run = String::new();
    for c in lowered.chars().chain(std::iter::once(' ')) {
        if word(c) {
            run.push(c);
            continue;
        }
        if !matches!(run.as_str(), "a" | "an" | "the") {
            out.push_str(&run);
        } else {
            out.push(' ');
        }
        run.clear();
        out.push(c);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQuAD token-overlap F1 of one prediction against one gold answer (0 when either is empty).
pub fn squad_f1(prediction: &str, gold: &str) -> f64 {
    let (p, g) = (normalize_answer(prediction), normalize_answer(gold));
    let (p, g): (Vec<&str>, Vec<&str>) = (p.split_whitespace().collect(), g.split_whitespace().collect());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0;
    for t in &p {
        if let Some(c) = counts.get_mut(t).filter(|c| **c > 0) {
            *c -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let (precision, recall) = (same as f64 / p.len() as f64, same as f64 / g.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

/// SQuAD exact match and F1 in 0..=100: per question the best over its gold answers, then the mean.
/// A question without gold answers scores 0.
pub fn squad_scores(predictions: &[String], golds: &[Vec<String>]) -> (f64, f64) {
    let n = predictions.len().min(golds.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let (mut em, mut f1) = (0.0, 0.0);
    for (p, gs) in predictions.iter().zip(golds) {
        let np = normalize_answer(p);
        em += gs
            .iter()
            .map(|g| f64::from(u8::from(normalize_answer(g) == np)))
            .fold(0.0, f64::max);
        f1 += gs.iter().map(|g| squad_f1(p, g)).fold(0.0, f64::max);
    }
    (100.0 * em / n as f64, 100.0 * f1 / n as f64)
}

/// Named evaluation results (`accuracy`, `macro_f1`, `precision`, `recall`, `f1`, `exact_match`, `loss`,
/// ...), in name order, for printing and JSON logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn set(&mut self, name: &str, value: f64) -> &mut Self {
        self.0.insert(name.to_string(), value);
        self
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.get(name).copied()
    }

    /// Classification: `accuracy` and `macro_f1`.
    pub fn classification(gold: &[u32], pred: &[u32], n_labels: usize) -> Metrics {
        let mut m = Metrics::default();
        m.set("accuracy", accuracy(gold, pred))
            .set("macro_f1", macro_f1(gold, pred, n_labels));
        m
    }

    /// Token classification: entity `precision`, `recall`, `f1`.
    pub fn entities(gold_tags: &[Vec<String>], pred_tags: &[Vec<String>]) -> Metrics {
        let s = entity_scores(gold_tags, pred_tags);
        let mut m = Metrics::default();
        m.set("precision", s.precision).set("recall", s.recall).set("f1", s.f1);
        m
    }

    /// QA: `exact_match` and `f1`, 0..=100.
    pub fn squad(predictions: &[String], golds: &[Vec<String>]) -> Metrics {
        let (em, f1) = squad_scores(predictions, golds);
        let mut m = Metrics::default();
        m.set("exact_match", em).set("f1", f1);
        m
    }

    /// `name value` pairs separated by spaces, 4 decimals: `accuracy 0.7500 macro_f1 0.7481`.
    pub fn line(&self) -> String {
        (self.0.iter())
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
