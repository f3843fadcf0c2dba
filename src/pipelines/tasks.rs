//! Inference with a fine-tuned head, in the JSON shapes of transformers' pipelines: text-classification
//! (every label, best first), token-classification (aggregation "simple") and question-answering (the
//! 4.x pipeline's span search over windows of the context).

use serde::Serialize;

use crate::bail;
use crate::error::{Error, Result};
use crate::model::task::{Targets, TaskBatch};
use crate::model::weights::HeadKind;
use crate::model::{Batch, Bert};
use crate::tasks::data::QaExample;
use crate::tasks::features::FeatureSettings;
use crate::tasks::sequence::{self, LabelScore, ScoreFunction};
use crate::tasks::span::{best_answer, example_ranges, qa_features, QaAnswer, WindowLogits};
use crate::tasks::token::{self, Entity};
use crate::tasks::LabelMap;

/// One input of [`Bert::predict`]: a text (with its pair, for sentence-pair classification) for the
/// classification heads, a question about a context for question answering.
#[derive(Clone, Debug, PartialEq)]
pub enum PredictInput {
    Text { text: String, text_pair: Option<String> },
    Question { question: String, context: String },
}

/// One result of [`Bert::predict`]; serialised as transformers' pipeline gives it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Prediction {
    /// text-classification: every label with its score, best first.
    Labels(Vec<LabelScore>),
    /// token-classification: the entities of the text.
    Entities(Vec<Entity>),
    /// question-answering: the best answer, or null when the context gives no span.
    Answer(Option<QaAnswer>),
}

impl Bert {
    /// The task head's pipeline on every input, `batch_size` inputs per GPU batch: text-classification and
    /// token-classification on [`PredictInput::Text`] (all single texts or all pairs; token classification
    /// takes no pairs), question-answering on [`PredictInput::Question`] with `qa`'s windows (capped by
    /// the model). Errors name the input at fault as `inputs[i]`.
    pub async fn predict(
        &self,
        inputs: &[PredictInput],
        batch_size: usize,
        qa: FeatureSettings,
    ) -> Result<Vec<Prediction>> {
        if inputs.is_empty() {
            bail!("no inputs given");
        }
        let kind = self.task_head()?.kind;
        let batch_size = batch_size.max(1);
        let mut out = Vec::with_capacity(inputs.len());
        if kind == HeadKind::Span {
            let rows = (inputs.iter().enumerate())
                .map(|(i, input)| match input {
                    PredictInput::Question { question, context } => Ok((question.as_str(), context.as_str())),
                    PredictInput::Text { .. } => Err(Error::new(format!(
                        "inputs[{i}]: question answering expects a question and a context, not a text"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            for chunk in rows.chunks(batch_size) {
                out.extend(self.answer(chunk, qa).await?.into_iter().map(Prediction::Answer));
            }
            return Ok(out);
        }
        let rows = (inputs.iter().enumerate())
            .map(|(i, input)| match input {
                PredictInput::Text { text, text_pair } => Ok((text.as_str(), text_pair.as_deref())),
                PredictInput::Question { .. } => Err(Error::new(format!(
                    "inputs[{i}]: a {} takes texts, not a question and a context",
                    kind.architecture()
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let paired = rows.iter().filter(|r| r.1.is_some()).count();
        if kind == HeadKind::Token && paired > 0 {
            bail!("token classification takes single texts, not pairs");
        }
        if paired != 0 && paired != rows.len() {
            bail!("some inputs have a text_pair and some do not");
        }
        for chunk in rows.chunks(batch_size) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.0).collect();
            let pairs: Option<Vec<&str>> = chunk.iter().map(|r| r.1).collect();
            if kind == HeadKind::Sequence {
                let scores = self.classify(&texts, pairs.as_deref()).await?;
                out.extend(scores.into_iter().map(Prediction::Labels));
            } else {
                out.extend(self.token_classify(&texts).await?.into_iter().map(Prediction::Entities));
            }
        }
        Ok(out)
    }

    /// The head's label names: config.json's `id2label`, else transformers' `LABEL_<i>`.
    pub fn label_map(&self) -> Result<LabelMap> {
        let n = self.task_head()?.labels();
        Ok(LabelMap::from_config(&self.config).unwrap_or_else(|| LabelMap {
            names: (0..n).map(|i| format!("LABEL_{i}")).collect(),
        }))
    }

    fn expect_head(&self, kind: HeadKind) -> Result<()> {
        let have = self.task_head()?.kind;
        if have != kind {
            return Err(Error::new(format!(
                "this model is a {}; the pipeline needs a {}",
                have.architecture(),
                kind.architecture()
            )));
        }
        Ok(())
    }

    /// Text classification: for each text (with its pair, if given) every label with its score, best
    /// first (softmax; the raw value for regression).
    pub async fn classify(&self, texts: &[&str], pairs: Option<&[&str]>) -> Result<Vec<Vec<LabelScore>>> {
        self.expect_head(HeadKind::Sequence)?;
        let labels = self.label_map()?;
        let function = ScoreFunction::from_config(&self.config, labels.len());
        let (batch, _, _) = self.encode_batch(texts, pairs)?;
        let logits = self.logits_of(batch).await?;
        let per = labels.len();
        Ok(logits
            .chunks_exact(per)
            .map(|row| sequence::classify_with(row, &labels, function))
            .collect())
    }

    /// Token classification: the entities of each text (aggregation "simple": consecutive tokens of one
    /// type grouped, `O` dropped), with character offsets into the text.
    pub async fn token_classify(&self, texts: &[&str]) -> Result<Vec<Vec<Entity>>> {
        self.expect_head(HeadKind::Token)?;
        let labels = self.label_map()?;
        let (batch, encodings, _) = self.encode_batch(texts, None)?;
        let seq = batch.seq;
        let logits = self.logits_of(batch).await?;
        let per = seq * labels.len();
        Ok((texts.iter().zip(&encodings).enumerate())
            .map(|(i, (text, enc))| {
                let rows = &logits[i * per..(i + 1) * per];
                token::aggregate_entities(&self.tokenizer, text, enc, rows, &labels)
            })
            .collect())
    }

    /// Question answering: the best answer span of each (question, context), searched over windows of
    /// the context. None when a context gives no span.
    pub async fn answer(&self, inputs: &[(&str, &str)], s: FeatureSettings) -> Result<Vec<Option<QaAnswer>>> {
        self.expect_head(HeadKind::Span)?;
        // The window capped by the model, then checked: at least 8 tokens, an answer of at least one.
        let positions = self.config.max_position_embeddings;
        let s = FeatureSettings {
            max_len: s.max_len.min(positions),
            ..s
        }
        .for_positions(positions, str::to_string)?;
        let examples: Vec<QaExample> = (inputs.iter().enumerate())
            .map(|(i, (q, c))| QaExample {
                id: format!("#{}", i + 1),
                question: q.to_string(),
                context: c.to_string(),
                answers: Vec::new(),
            })
            .collect();
        let windows = qa_features(&self.tokenizer, &examples, s.max_len, s.doc_stride, false)?;
        let rows = windows.iter().map(|w| (&w.feature.ids[..], &w.feature.type_ids[..]));
        let longest = windows.iter().map(|w| w.feature.ids.len()).max().unwrap_or(1);
        let seq = longest.next_multiple_of(4);
        let batch = Batch::from_sequences(rows, self.tokenizer.pad_id(), seq, windows.len());
        let logits = self.logits_of(batch).await?;
        let (starts, ends) = logits.split_at(windows.len() * seq);
        Ok(example_ranges(&windows)
            .into_iter()
            .map(|range| {
                let per: Vec<WindowLogits> = range
                    .map(|i| {
                        (
                            &windows[i],
                            &starts[i * seq..(i + 1) * seq],
                            &ends[i * seq..(i + 1) * seq],
                        )
                    })
                    .collect();
                best_answer(&examples[per[0].0.feature.example].context, &per, s.max_answer_len)
            })
            .collect())
    }

    async fn logits_of(&self, batch: Batch) -> Result<Vec<f32>> {
        let b = TaskBatch {
            batch,
            targets: Targets::None,
        };
        Ok(self.task_logits(&b).await?.2)
    }
}
