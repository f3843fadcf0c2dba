//! Named evaluation results; each head computes its own in its module (accuracy and macro F1 in
//! [`super::sequence`], entity scores in [`super::token`], SQuAD exact match and F1 in [`super::span`]).

use std::collections::BTreeMap;

use serde::Serialize;

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

    /// `name value` pairs separated by spaces, 4 decimals: `accuracy 0.7500 macro_f1 0.7481`.
    pub fn line(&self) -> String {
        (self.0.iter())
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
