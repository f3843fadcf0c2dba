//! Inference with a fine-tuned head, in the JSON shapes of transformers' pipelines: text-classification
//! (every label, best first), token-classification (aggregation "simple") and question-answering (the
//! 4.x pipeline's span search over windows of the context).

use crate::error::{Error, Result};
use crate::model::task::{Targets, TaskBatch};
use crate::model::weights::HeadKind;
use crate::model::{Batch, Bert};
use crate::tasks::data::QaExample;
use crate::tasks::features::{example_ranges, qa_features};
use crate::tasks::postprocess::{self, best_answer, Entity, LabelScore, QaAnswer, ScoreFunction, WindowLogits};
use crate::tasks::LabelMap;

/// Settings of the question-answering pipeline (transformers' defaults, capped by the model).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QaSettings {
    /// Tokens per window (question, context and specials); at most max_position_embeddings.
    pub max_len: usize,
    /// Tokens shared by consecutive windows; at most half a window.
    pub doc_stride: usize,
    /// The longest answer, in tokens.
    pub max_answer_len: usize,
}

impl Default for QaSettings {
    fn default() -> Self {
        QaSettings {
            max_len: 384,
            doc_stride: 128,
            max_answer_len: 15,
        }
    }
}

impl Bert {
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
            .map(|row| postprocess::classify_with(row, &labels, function))
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
                postprocess::aggregate_entities(&self.tokenizer, text, enc, rows, &labels)
            })
            .collect())
    }

    /// Question answering: the best answer span of each (question, context), searched over windows of
    /// the context. None when a context gives no span.
    pub async fn answer(&self, inputs: &[(&str, &str)], s: QaSettings) -> Result<Vec<Option<QaAnswer>>> {
        self.expect_head(HeadKind::Span)?;
        let max_len = s.max_len.min(self.config.max_position_embeddings);
        let stride = s.doc_stride.min(max_len / 2);
        let examples: Vec<QaExample> = (inputs.iter().enumerate())
            .map(|(i, (q, c))| QaExample {
                id: format!("#{}", i + 1),
                question: q.to_string(),
                context: c.to_string(),
                answers: Vec::new(),
            })
            .collect();
        let windows = qa_features(&self.tokenizer, &examples, max_len, stride, false)?;
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
