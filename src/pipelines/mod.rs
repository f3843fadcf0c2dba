//! Inference pipelines with the output shapes of transformers' pipelines: fill-mask and embeddings
//! here, the fine-tuned heads in [`tasks`].

pub mod tasks;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::gpu::Recorder;
use crate::model::Bert;

/// One candidate for one `[MASK]`, as transformers' `pipeline("fill-mask")` reports it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FillMaskPrediction {
    pub score: f32,
    pub token: u32,
    pub token_str: String,
    pub sequence: String,
}

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over real tokens (attention mask 1), as sentence-transformers does.
    Mean,
    /// The `[CLS]` token's last hidden state.
    Cls,
}

/// The attention probabilities of one text (transformers' `output_attentions=True`), cut to its tokens.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AttentionMaps {
    /// (n,) the tokens as the tokenizer writes them, `[CLS]` first and `[SEP]` last.
    pub tokens: Vec<String>,
    /// (n,) the segment ids.
    pub segments: Vec<u32>,
    /// `[layer][head]`: (n, n) row-major, row = query token, column = key token; each row sums to 1.
    pub attention: Vec<Vec<Vec<f32>>>,
}

/// The start of a text for an error message: at most 60 characters, quoted.
fn excerpt(text: &str) -> String {
    let (start, cut) = crate::error::cut_for_message(text, 60);
    format!("{start:?}{}", if cut { "..." } else { "" })
}

impl Bert {
    /// Every layer's and head's attention probabilities for one text (or pair `[CLS] A [SEP] B [SEP]`): one
    /// forward pass with the unfused attention, the (seq, seq) maps read back and cut to the n tokens.
    pub async fn attention_maps(&self, text: &str, text_pair: Option<&str>) -> Result<AttentionMaps> {
        let pair = text_pair.map(|p| [p]);
        let (batch, encodings, _) = self.encode_batch(&[text], pair.as_ref().map(|p| &p[..]))?;
        let (ids, seq) = (&encodings[0].ids, batch.seq);
        let n = ids.len();
        let mut rec = Recorder::new(&self.gpu);
        let ws = self.record_forward_attentions(&mut rec, &batch)?;
        let ranges: Vec<_> = ws.probs.iter().map(|p| (&p.buf, 0, p.len())).collect();
        let probs = rec.submit_and_read(&ranges).await?; // per layer: (1, heads, seq, seq)
        let attention = (probs.iter())
            .map(|layer| {
                (0..self.config.num_attention_heads)
                    .map(|h| {
                        (0..n)
                            .flat_map(|q| &layer[(h * seq + q) * seq..][..n])
                            .copied()
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Ok(AttentionMaps {
            tokens: (ids.iter())
                .map(|&id| self.tokenizer.id_to_token(id).unwrap_or_else(|| format!("#{id}")))
                .collect(),
            segments: encodings[0].type_ids.clone(),
            attention,
        })
    }

    /// For each text, for each `[MASK]` in it (in order), the top-k predictions. One submit for the batch;
    /// only the masked rows are projected onto the vocabulary and read back.
    pub async fn fill_mask(&self, texts: &[&str], top_k: usize) -> Result<Vec<Vec<Vec<FillMaskPrediction>>>> {
        let mask_id = self
            .tokenizer
            .mask_id()
            .ok_or_else(|| Error::new("the tokenizer has no [MASK] token"))?;
        if top_k == 0 {
            return Err(Error::new("top_k must be at least 1"));
        }
        let (batch, encodings, truncated) = self.encode_batch(texts, None)?;
        let mut rows = Vec::new(); // (text, position) of every mask
        for (t, enc) in encodings.iter().enumerate() {
            let before = rows.len();
            rows.extend(
                enc.ids
                    .iter()
                    .enumerate()
                    .filter(|(_, &id)| id == mask_id)
                    .map(|(s, _)| (t, s)),
            );
            if rows.len() == before {
                let max = self.config.max_position_embeddings;
                let first_mask = truncated[t]
                    .then(|| self.tokenizer.encode(texts[t], None).ok())
                    .flatten()
                    .and_then(|full| full.ids.iter().position(|&id| id == mask_id));
                return Err(Error::new(match first_mask {
                    Some(at) => format!(
                        "text {}: its first [MASK] is token {} of a text cut to the model's \
                         max_position_embeddings ({max}); shorten the text before the [MASK]",
                        t + 1,
                        at + 1
                    ),
                    None => format!("text {} has no [MASK] token: {}", t + 1, excerpt(texts[t])),
                }));
            }
        }
        let flat: Vec<u32> = rows.iter().map(|&(t, s)| (t * batch.seq + s) as u32).collect();
        let mut rec = Recorder::new(&self.gpu);
        let ws = self.record_forward(&mut rec, &batch)?;
        let logits = self.record_mlm(&mut rec, &ws, &flat)?;
        let data = rec.submit_and_read(&[(&logits.buf, 0, logits.len())]).await?.remove(0);
        let vocab = self.config.vocab_size;
        let mut out: Vec<Vec<Vec<FillMaskPrediction>>> = vec![Vec::new(); texts.len()];
        for (r, &(t, s)) in rows.iter().enumerate() {
            // As transformers: with several masks in a text, `sequence` keeps the special tokens.
            let single_mask = rows.iter().filter(|&&(other, _)| other == t).count() == 1;
            let row = &data[r * vocab..(r + 1) * vocab];
            let probs = softmax(row);
            let mut order: Vec<usize> = (0..vocab).collect();
            let k = top_k.min(vocab);
            order.select_nth_unstable_by(k - 1, |&a, &b| probs[b].total_cmp(&probs[a]));
            order.truncate(k);
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
            let preds = order
                .into_iter()
                .map(|id| {
                    let mut ids = encodings[t].ids.clone();
                    ids[s] = id as u32;
                    FillMaskPrediction {
                        score: probs[id],
                        token: id as u32,
                        token_str: self.tokenizer.decode(&[id as u32], false),
                        sequence: self.tokenizer.decode(&ids, single_mask),
                    }
                })
                .collect();
            out[t].push(preds);
        }
        Ok(out)
    }

    /// One vector per text: mean or `[CLS]` pooling of the last hidden state, optionally L2-normalised.
    pub async fn embed(&self, texts: &[&str], pooling: Pooling, normalize: bool) -> Result<Vec<Vec<f32>>> {
        let (batch, _, _) = self.encode_batch(texts, None)?;
        let mut rec = Recorder::new(&self.gpu);
        let ws = self.record_forward(&mut rec, &batch)?;
        let last = ws.last_hidden();
        let hidden = rec.submit_and_read(&[(&last.buf, 0, last.len())]).await?.remove(0);
        let h = self.config.hidden_size;
        Ok((0..batch.batch)
            .map(|b| {
                let row = |s: usize| &hidden[(b * batch.seq + s) * h..(b * batch.seq + s + 1) * h];
                let mut v = match pooling {
                    Pooling::Cls => row(0).to_vec(),
                    Pooling::Mean => {
                        let n = batch.lengths[b];
                        let mut acc = vec![0.0f32; h];
                        for s in 0..n {
                            acc.iter_mut().zip(row(s)).for_each(|(a, x)| *a += x);
                        }
                        acc.iter_mut().for_each(|a| *a /= n as f32);
                        acc
                    }
                };
                if normalize {
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                v
            })
            .collect())
    }
}

/// Softmax of one row of logits, in f64 for the sum.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = row.iter().map(|&x| ((x - max) as f64).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.iter().map(|&e| (e / sum) as f32).collect()
}

/// Cosine similarity matrix of vectors.
pub fn cosine_matrix(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    vectors
        .iter()
        .map(|a| {
            vectors
                .iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b)))
                .collect()
        })
        .collect()
}

/// transformers' JSON shape: per text, one mask gives a list of predictions, several masks a list of lists;
/// several texts give a list of those.
pub fn fill_mask_json(results: &[Vec<Vec<FillMaskPrediction>>]) -> serde_json::Value {
    let per_text: Vec<serde_json::Value> = results
        .iter()
        .map(|masks| {
            if masks.len() == 1 {
                serde_json::to_value(&masks[0]).unwrap()
            } else {
                serde_json::to_value(masks).unwrap()
            }
        })
        .collect();
    if per_text.len() == 1 {
        per_text.into_iter().next().unwrap()
    } else {
        serde_json::Value::Array(per_text)
    }
}
