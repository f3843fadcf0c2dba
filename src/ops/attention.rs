//! Masked multi-head self-attention: scores = Q.K^T / sqrt(d) (matmul), masked softmax
//! (shaders/attention.wgsl), context = P.V (matmul). Q, K and V are read in place from the fused
//! projection output, so no head split or merge pass is needed. Inference that does not ask for the
//! probabilities runs all three in one kernel (`fused_forward`, online softmax).

use super::grid_1d;
use super::matmul::{self, Dims, Epilogue, Form, Operand};
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/attention.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("attention.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SoftmaxParams {
    rows: u32,
    seq: u32,
    rows_per_seq: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FusedParams {
    seq: u32,
    heads: u32,
    d4: u32,
    hidden: u32,
    scale: f32,
}

// reads mask; writes scores
const SOFTMAX_FORWARD: Kernel = Kernel::new::<SoftmaxParams>(SHADER, "attention_softmax_forward", &[U, R, W]);

/// Sizes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// Attention dropout during training: `out` (batch, heads, seq, seq) receives the dropped probabilities,
/// which multiply V; `probs` keeps the softmax itself for the backward pass.
#[derive(Clone, Copy)]
pub struct Dropped<'a> {
    pub out: &'a Tensor,
    pub p: f32,
    pub seed: u32,
    pub stream: u32,
}

/// qkv (batch*seq, 3*hidden) holds Q | K | V per token; mask (batch, seq) is 1 for tokens and 0 for padding;
/// probs (batch, heads, seq, seq) receives the attention probabilities; ctx (batch*seq, hidden) the output.
pub fn forward(
    rec: &mut Recorder,
    s: Shape,
    qkv: &Tensor,
    mask: &Tensor,
    probs: &Tensor,
    ctx: &Tensor,
    dropout: Option<Dropped>,
) {
    let hidden = s.heads * s.head_dim;
    assert_eq!(qkv.len(), s.batch * s.seq * 3 * hidden, "attention: qkv shape");
    assert_eq!(
        s.seq % 4,
        0,
        "attention: sequence length must be padded to a multiple of 4"
    );
    let seq_sq = s.seq * s.seq;
    let head = |off| Operand {
        buf: &qkv.buf,
        off,
        rs: 3 * hidden,
        so: s.seq * 3 * hidden,
        si: s.head_dim,
        zero_tail: false,
    };
    let scores = Operand {
        buf: &probs.buf,
        off: 0,
        rs: s.seq,
        so: s.heads * seq_sq,
        si: seq_sq,
        zero_tail: false,
    };
    let dims = Dims {
        m: s.seq,
        n: s.seq,
        k: s.head_dim,
        batch_outer: s.batch,
        batch_inner: s.heads,
    };
    let scale = Epilogue {
        alpha: 1.0 / (s.head_dim as f32).sqrt(),
        ..Default::default()
    };
    matmul::forward(rec, Form::Nt, dims, head(0), head(hidden), scores, scale);

    let rows = s.batch * s.heads * s.seq;
    rec.dispatch(
        &SOFTMAX_FORWARD,
        &SoftmaxParams {
            rows: rows as u32,
            seq: s.seq as u32,
            rows_per_seq: (s.heads * s.seq) as u32,
        },
        &[&mask.buf, &probs.buf],
        grid_1d(rows),
    );

    let values_weights = match dropout {
        Some(d) => {
            super::dropout::forward(rec, probs, d.out, d.p, d.seed, d.stream);
            Operand {
                buf: &d.out.buf,
                ..scores
            }
        }
        None => scores,
    };
    let out = Operand {
        buf: &ctx.buf,
        off: 0,
        rs: hidden,
        so: s.seq * hidden,
        si: s.head_dim,
        zero_tail: false,
    };
    let dims = Dims {
        m: s.seq,
        n: s.head_dim,
        k: s.seq,
        batch_outer: s.batch,
        batch_inner: s.heads,
    };
    matmul::forward(
        rec,
        Form::Nn,
        dims,
        values_weights,
        head(2 * hidden),
        out,
        Epilogue::default(),
    );
}

// reads mask, qkv; writes ctx
const FUSED_FORWARD: Kernel = Kernel::new::<FusedParams>(SHADER, "attention_fused_forward", &[U, R, R, W]);

/// Whether the fused kernel handles this head size (a multiple of 4, at most 128).
pub fn fused_supported(head_dim: usize) -> bool {
    head_dim.is_multiple_of(4) && head_dim <= 128
}

/// Inference attention in one kernel: ctx (batch*seq, hidden) = softmax(Q.K^T / sqrt(d), padding keys
/// masked) . V per head, never storing the (seq x seq) probabilities; same inputs as [`forward`].
pub fn fused_forward(rec: &mut Recorder, s: Shape, qkv: &Tensor, mask: &Tensor, ctx: &Tensor) {
    let hidden = s.heads * s.head_dim;
    assert!(fused_supported(s.head_dim), "fused attention: head_dim {}", s.head_dim);
    assert_eq!(qkv.len(), s.batch * s.seq * 3 * hidden, "fused attention: qkv shape");
    assert_eq!(ctx.len(), s.batch * s.seq * hidden, "fused attention: ctx shape");
    let scale = 1.0 / (s.head_dim as f32).sqrt();
    rec.dispatch(
        &FUSED_FORWARD,
        &FusedParams {
            seq: s.seq as u32,
            heads: s.heads as u32,
            d4: (s.head_dim / 4) as u32,
            hidden: hidden as u32,
            scale,
        },
        &[&mask.buf, &qkv.buf, &ctx.buf],
        [s.seq.div_ceil(64) as u32, (s.batch * s.heads) as u32, 1],
    );
}

// reads probs; writes dprobs
const SOFTMAX_BACKWARD: Kernel = Kernel::new::<SoftmaxParams>(SHADER, "attention_softmax_backward", &[U, R, W]);

/// Softmax backward, in place: for each of `rows` rows of length `seq`, dprobs becomes
/// d(scores) = P * (dP - rowsum(dP * P)). No 1/sqrt(d) scale: the caller's matmuls apply it.
/// probs and dprobs are (batch, heads, seq, seq) with rows = batch * heads * seq.
pub fn softmax_backward(rec: &mut Recorder, rows: usize, seq: usize, probs: &Tensor, dprobs: &Tensor) {
    assert_eq!(probs.len(), rows * seq, "attention softmax backward: probs shape");
    assert_eq!(dprobs.len(), rows * seq, "attention softmax backward: dprobs shape");
    rec.dispatch(
        &SOFTMAX_BACKWARD,
        &SoftmaxParams {
            rows: rows as u32,
            seq: seq as u32,
            rows_per_seq: 1,
        },
        &[&probs.buf, &dprobs.buf],
        grid_1d(rows),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[SOFTMAX_FORWARD, FUSED_FORWARD, SOFTMAX_BACKWARD];
