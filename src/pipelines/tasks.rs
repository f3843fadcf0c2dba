//! Inference with a fine-tuned head, in the JSON shapes of transformers' pipelines: text-classification
//! (every label, best first), token-classification (aggregation "simple") and question-answering (the
//! 4.x pipeline's span search over windows of the context). The heads make the rows and read the logits
//! (`tasks::pipeline_rows`); this batches the rows and runs the model.

use crate::bail;
use crate::error::Result;
use crate::model::task::{Targets, TaskBatch};
use crate::model::{Batch, Bert};
use crate::tasks::features::FeatureSettings;
use crate::tasks::pipeline::{PipelineModel, PredictInput, Prediction};
use crate::tasks::{check_predict_inputs, pipeline_rows, LabelMap};

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
        check_predict_inputs(kind, inputs)?;
        let model = PipelineModel {
            tokenizer: &self.tokenizer,
            config: &self.config,
            labels: self.label_map()?,
            settings: qa,
        };
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(batch_size.max(1)) {
            let rows = pipeline_rows(kind, &model, chunk)?;
            let sequences: Vec<_> = rows.rows.iter().map(|(ids, types)| (&ids[..], &types[..])).collect();
            let batch = Batch::padded(&sequences, self.tokenizer.pad_id());
            let seq = batch.seq;
            let b = TaskBatch {
                batch,
                targets: Targets::None,
            };
            let logits = self.task_logits(&b).await?.2;
            out.extend((rows.outputs)(&logits, seq));
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
}
