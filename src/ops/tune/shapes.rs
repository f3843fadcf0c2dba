//! The matmuls a model runs, by form and size: what is checked and timed.

use crate::gpu::matmul_gen::{Entry, ShapeClass};
use crate::ops::matmul::{self, Dims, Form};

/// One matmul the model runs: its form, sizes and what it is. Operands are contiguous, as the model lays
/// them out (attention reads Q, K and V in place with the same alignment).
#[derive(Clone, Debug)]
pub struct MatmulShape {
    pub label: String,
    pub form: Form,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Matrices per dispatch (attention: batch x heads).
    pub batch: usize,
}

impl MatmulShape {
    pub fn new(label: &str, form: Form, m: usize, n: usize, k: usize, batch: usize) -> MatmulShape {
        MatmulShape {
            label: label.to_string(),
            form,
            m,
            n,
            k,
            batch,
        }
    }

    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k * self.batch) as f64
    }

    pub(super) fn dims(&self) -> Dims {
        Dims {
            m: self.m,
            n: self.n,
            k: self.k,
            batch_outer: 1,
            batch_inner: self.batch,
        }
    }

    /// Row strides of A, B and Y: contiguous matrices, A of NN/TN padded to a multiple of 4 as the model
    /// pads the MLM logits, B of NN/TN as the kernels read it four values at a time.
    pub(super) fn strides(&self) -> (usize, usize, usize) {
        let n4 = self.n.next_multiple_of(4);
        match self.form {
            Form::Nt => (self.k, self.k, self.n),
            Form::Nn => (self.k.next_multiple_of(4), n4, self.n),
            Form::Tn => (self.m.next_multiple_of(4), n4, self.n),
        }
    }

    pub fn entry(&self) -> Entry {
        matmul::entry_for_layout(self.form, &self.dims(), self.strides().0.is_multiple_of(4), true)
    }

    pub fn class(&self) -> ShapeClass {
        ShapeClass::of(self.entry(), self.m, self.n, self.k, self.batch)
    }

    /// Values of A, B and Y.
    pub(super) fn sizes(&self) -> (usize, usize, usize) {
        let (a_rs, b_rs, _) = self.strides();
        let a_rows = if self.form == Form::Tn { self.k } else { self.m };
        let b_rows = if self.form == Form::Nt { self.n } else { self.k };
        let z = self.batch;
        (z * a_rows * a_rs, z * b_rows * b_rs, z * self.m * self.n)
    }

    /// The same shape cut so that one run costs at most `max_flops` (tuning stays short; the class, and so
    /// the choice, is the real shape's). k is cut first, down to 256: time grows linearly with k, while
    /// the grid of output tiles, which decides between kernels of different tile sizes, stays the real
    /// shape's. Then the largest dimension is halved, as long as one is over 64.
    pub fn capped(&self, max_flops: f64) -> MatmulShape {
        // Halved, keeping the remainder by 4 so that the cut copy runs the same entry point.
        let half = |d: usize| (d / 2) / 4 * 4 + d % 4;
        let mut s = self.clone();
        while s.flops() > max_flops && s.k > 256 {
            s.k = half(s.k).max(256);
        }
        while s.flops() > max_flops {
            let biggest = s.m.max(s.n).max(s.k);
            if biggest <= 64 {
                break;
            }
            if s.m == biggest {
                s.m = half(biggest);
            } else if s.n == biggest {
                s.n = half(biggest);
            } else {
                s.k = half(biggest);
            }
        }
        s
    }
}

/// Every matmul of a BERT training step at (batch, seq) with `rows` masked positions: the forward
/// projections, attention's products, the MLM head on masked rows, and with `training` the backward forms.
pub fn bert_shapes(
    hidden: usize,
    intermediate: usize,
    heads: usize,
    vocab: usize,
    batch: usize,
    seq: usize,
    rows: usize,
    training: bool,
) -> Vec<MatmulShape> {
    let (t, h, i, d, z) = (batch * seq, hidden, intermediate, hidden / heads.max(1), batch * heads);
    let s = MatmulShape::new;
    let mut out = vec![
        s("Q/K/V projection", Form::Nt, t, 3 * h, h, 1),
        s("attention output", Form::Nt, t, h, h, 1),
        s("FFN up", Form::Nt, t, i, h, 1),
        s("FFN down", Form::Nt, t, h, i, 1),
        s("attention scores", Form::Nt, seq, seq, d, z),
        s("attention context", Form::Nn, seq, d, seq, z),
        s("MLM transform", Form::Nt, rows, h, h, 1),
        s("vocabulary projection", Form::Nt, rows, vocab, h, 1),
    ];
    if training {
        out.extend([
            s("dX of Q/K/V", Form::Nn, t, h, 3 * h, 1),
            s("dX of FFN up", Form::Nn, t, h, i, 1),
            s("dX of FFN down", Form::Nn, t, i, h, 1),
            s("dX of vocabulary", Form::Nn, rows, h, vocab, 1),
            s("dW of Q/K/V", Form::Tn, 3 * h, h, t, 1),
            s("dW of FFN up", Form::Tn, i, h, t, 1),
            s("dW of FFN down", Form::Tn, h, i, t, 1),
            s("dW of vocabulary", Form::Tn, vocab, h, rows, 1),
            s("attention dP", Form::Nt, seq, seq, d, z),
            s("attention dV, dK", Form::Tn, seq, d, seq, z),
            s("attention dQ", Form::Nn, seq, d, seq, z),
        ]);
    }
    // Heads that are absent (no masked rows: no MLM products).
    out.retain(|s| s.m * s.n * s.k * s.batch > 0);
    out
}
