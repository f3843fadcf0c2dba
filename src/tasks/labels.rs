//! Label names by id, as config.json's `id2label` holds them, and what a config says about its outputs.

use serde_json::{Map, Value};

use crate::{BertConfig, Error, Result};

/// Label names by id: `names[id]`, as config.json's `id2label`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// One name per label id, ids 0..len.
    pub names: Vec<String>,
}

impl LabelMap {
    /// The labels of a config.json's `id2label`; None when it has none, when its keys are not exactly
    /// 0..n, or when they are only transformers' defaults `LABEL_0`, `LABEL_1`, ...
    pub fn from_config(config: &BertConfig) -> Option<LabelMap> {
        let map = config.extra.get("id2label")?.as_object()?;
        let mut names = vec![None; map.len()];
        for (key, value) in map {
            let id: usize = key.trim().parse().ok()?;
            let slot = names.get_mut(id)?;
            *slot = Some(match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
        let names: Vec<String> = names.into_iter().collect::<Option<_>>()?;
        let defaults = names.iter().enumerate().all(|(i, n)| *n == format!("LABEL_{i}"));
        if names.is_empty() || defaults {
            return None;
        }
        Some(LabelMap { names })
    }

    /// The distinct values, sorted: numerically when every value is an integer ("2" before "10"),
    /// else as strings.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> LabelMap {
        let mut names: Vec<String> = values.into_iter().map(str::to_string).collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().unwrap_or_default());
        } else {
            names.sort();
        }
        names.dedup();
        LabelMap { names }
    }

    /// The labels a fine-tuning run uses: the config's (so that a data label missing from it is an
    /// error later, in [`LabelMap::id`]), else those of the training data.
    pub fn for_training<'a>(config: &BertConfig, values: impl IntoIterator<Item = &'a str>) -> LabelMap {
        LabelMap::from_config(config).unwrap_or_else(|| LabelMap::from_values(values))
    }

    /// The id of a label name; the error names `file:line` and the known labels.
    pub fn id(&self, name: &str, file: &str, line: usize) -> Result<u32> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => Ok(i as u32),
            None => Err(Error::new(format!(
                "{file}:{line}: unknown label {name:?}; the model's labels are {}",
                self.names.join(", ")
            ))),
        }
    }

    /// The name of a label id ("?" past the end).
    pub fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("?", String::as_str)
    }

    /// Writes `id2label` (keys "0", "1", ...) and `label2id` into the config, as transformers saves them.
    pub fn write_to_config(&self, config: &mut BertConfig) {
        let id2label: Map<String, Value> = (self.names.iter().enumerate())
            .map(|(i, n)| (i.to_string(), Value::String(n.clone())))
            .collect();
        let label2id: Map<String, Value> = (self.names.iter().enumerate())
            .map(|(i, n)| (n.clone(), Value::from(i)))
            .collect();
        config.extra.insert("id2label".into(), Value::Object(id2label));
        config.extra.insert("label2id".into(), Value::Object(label2id));
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// config.json's `problem_type` ("regression", "single_label_classification", ...), if any.
pub fn problem_type(config: &BertConfig) -> Option<&str> {
    config.extra.get("problem_type")?.as_str()
}

/// Whether a sequence-classification config regresses a value: `problem_type` "regression", or no
/// `problem_type` and exactly one label in `id2label`. Such a model takes `labels: None` in
/// [`super::sequence::text_features`] (the label parsed as a number), even though `id2label` names its output.
pub fn is_regression(config: &BertConfig) -> bool {
    match problem_type(config) {
        Some(p) => p == "regression",
        None => config
            .extra
            .get("id2label")
            .and_then(Value::as_object)
            .is_some_and(|m| m.len() == 1),
    }
}
