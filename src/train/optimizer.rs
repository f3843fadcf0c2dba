//! The optimizer of the original recipe: AdamW with decoupled weight decay (not on biases or LayerNorm
//! parameters), global gradient-norm clipping, linear warmup then linear decay. All on the GPU.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::model::Weights;
pub use crate::ops::adamw::AdamVariant;
use crate::ops::adamw::{self, AdamHyper};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    pub variant: AdamVariant,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: u64,
    /// Optimizer steps of the whole run (the schedule decays to 0 there).
    pub total_steps: u64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clipping, positive; infinite disables it.
    pub max_grad_norm: f64,
}

impl OptimizerConfig {
    /// BERT's defaults for a variant.
    pub fn new(variant: AdamVariant, lr: f64, warmup_steps: u64, total_steps: u64) -> OptimizerConfig {
        let eps = match variant {
            AdamVariant::Torch => 1e-8,
            AdamVariant::Google => 1e-6,
        };
        OptimizerConfig {
            variant,
            lr,
            warmup_steps,
            total_steps,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps,
            max_grad_norm: 1.0,
        }
    }

    /// Every setting within its domain, or an error naming the first that is not (`lr`, `weight_decay`,
    /// `beta1`, `beta2`, `eps`, `max_grad_norm`, `steps`).
    pub fn check(&self) -> Result<()> {
        let bad = |name: &str, value: f64, domain: &str| Err(Error::new(format!("{name} {value}: must be {domain}")));
        let finite_positive = |x: f64| x.is_finite() && x > 0.0;
        if !finite_positive(self.lr) {
            return bad("lr", self.lr, "a positive, finite learning rate");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "finite and at least 0");
        }
        for (name, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return bad(name, beta, "in [0, 1)");
            }
        }
        if !finite_positive(self.eps) {
            return bad("eps", self.eps, "positive and finite");
        }
        if self.max_grad_norm.is_nan() || self.max_grad_norm <= 0.0 {
            return bad(
                "max_grad_norm",
                self.max_grad_norm,
                "positive (infinite disables clipping)",
            );
        }
        if self.total_steps == 0 {
            return Err(Error::new("steps 0: a run needs at least one optimizer step"));
        }
        Ok(())
    }

    /// The options a user gives (learning rate, weight decay, clipping norm: `None` or 0 for none) checked
    /// against their domains before anything is allocated. `spell` turns a field name (`lr`,
    /// `weight_decay`, `max_grad_norm`) into the front door's name for it, which the error starts with.
    pub fn check_options(lr: f64, weight_decay: f64, clip: Option<f64>, spell: impl Fn(&str) -> String) -> Result<()> {
        let mut c = OptimizerConfig::new(AdamVariant::Torch, lr, 0, 1);
        c.weight_decay = weight_decay;
        c.max_grad_norm = clip.filter(|&c| c != 0.0).unwrap_or(f64::INFINITY);
        c.check().map_err(|e| {
            let field = e.message.split(' ').next().unwrap_or_default();
            Error::new(format!("{}{}", spell(field), &e.message[field.len()..]))
        })
    }

    /// A step counter read from a checkpoint, checked against this schedule.
    pub fn check_resumed_step(&self, step: u64) -> Result<()> {
        if step > self.total_steps {
            return Err(Error::new(format!(
                "trainer_state.json: step {step} is past the schedule's {} steps (give at least {step} steps to \
                 continue it, or start a new run)",
                self.total_steps
            )));
        }
        Ok(())
    }

    /// The learning rate of optimizer step `step` (0-based), as transformers' linear schedule with warmup.
    pub fn lr_at(&self, step: u64) -> f64 {
        let factor = if step < self.warmup_steps {
            step as f64 / self.warmup_steps.max(1) as f64
        } else {
            let left = self.total_steps.saturating_sub(step) as f64;
            (left / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64).max(0.0)
        };
        self.lr * factor
    }
}

/// Whether a parameter gets weight decay: not biases and not LayerNorm parameters.
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm"))
}

/// Optimizer state: first and second moments, and the buffers of the gradient-norm reduction.
pub struct Optimizer {
    pub config: OptimizerConfig,
    pub m: Weights,
    pub v: Weights,
    partials: Tensor, // (parameters * PARTS) partial sums of squares
    /// (2): [global gradient norm before clipping, clip scale] of the last update.
    pub clip: Tensor,
}

impl Optimizer {
    pub fn new(gpu: &Gpu, params: &Weights, config: OptimizerConfig) -> Result<Optimizer> {
        config.check()?;
        let count = params.named().len();
        Ok(Optimizer {
            config,
            m: params.zeros_like(gpu, "adam_m")?,
            v: params.zeros_like(gpu, "adam_v")?,
            partials: gpu.zeros(&[count * adamw::PARTS], "grad_norm_partials")?,
            clip: gpu.zeros(&[2], "grad_norm")?,
        })
    }

    /// Records one update of every parameter from its gradient (then zeroed) at optimizer step `step`
    /// (0-based): norm, clip scale, AdamW.
    pub fn record_update(&self, rec: &mut Recorder, params: &Weights, grads: &Weights, step: u64) {
        let c = &self.config;
        let (p, g, m, v) = (params.named(), grads.named(), self.m.named(), self.v.named());
        for (slot, (_, grad)) in g.iter().enumerate() {
            adamw::sumsq(rec, grad, &self.partials, slot);
        }
        adamw::clip_scale(rec, &self.partials, g.len(), c.max_grad_norm as f32, &self.clip);
        for i in 0..p.len() {
            let h = AdamHyper {
                lr: c.lr_at(step) as f32,
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                eps: c.eps as f32,
                weight_decay: if decays(&p[i].0) { c.weight_decay as f32 } else { 0.0 },
                step: (step + 1) as u32,
                variant: c.variant,
            };
            adamw::update(rec, p[i].1, g[i].1, m[i].1, v[i].1, &self.clip, h);
        }
    }
}
