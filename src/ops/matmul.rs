//! Matrix products (shaders/matmul.wgsl, shaders/matmul_subgroup.wgsl): the "Linear" form
//! `Y = act(alpha * X.W^T + bias)` and the plain form `Y = X.W`, batched with strides so attention's
//! per-head products read Q, K and V in place. The subgroup variant is chosen when the adapter has one.

use super::Act;
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const BINDINGS: &[Access] = &[
    Access::Uniform,
    Access::Read,      // a (batch, m, k)
    Access::Read,      // b: NT (batch, n, k); NN (batch, k, n)
    Access::Read,      // bias (n)
    Access::ReadWrite, // y (batch, m, n)
];

/// Which operand layout: `Nt` reads B as (n, k) rows (PyTorch's Linear weight, K in Q.K^T),
/// `Nn` reads B as (k, n) rows (V in P.V, W in dX = dY.W).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Nt,
    Nn,
}

fn kernel(form: Form, subgroups: bool) -> Kernel {
    let shader = if subgroups {
        Shader::MatmulSubgroup
    } else {
        Shader::Matmul
    };
    let entry = match form {
        Form::Nt => "matmul_forward",
        Form::Nn => "matmul_nn_forward",
    };
    Kernel {
        shader,
        entry,
        bindings: BINDINGS,
    }
}

/// One operand: a buffer and where matrix z = (outer, inner) starts (`off + outer*so + inner*si`) and its
/// row stride, all in f32 elements and all multiples of 4.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub buf: &'a wgpu::Buffer,
    pub off: usize,
    pub rs: usize,
    pub so: usize,
    pub si: usize,
}

impl<'a> Operand<'a> {
    /// A single row-major matrix with `cols` columns.
    pub fn matrix(t: &'a Tensor, cols: usize) -> Self {
        Operand {
            buf: &t.buf,
            off: 0,
            rs: cols,
            so: 0,
            si: 0,
        }
    }
}

/// Sizes: Y[z] is (m, n), the sum runs over k; z ranges over batch_outer * batch_inner matrices.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch_outer: usize,
    pub batch_inner: usize,
}

/// What happens to alpha * A.B before it is stored.
#[derive(Clone, Copy)]
pub struct Epilogue<'a> {
    pub alpha: f32,
    pub bias: Option<&'a wgpu::Buffer>,
    pub act: Act,
    /// Add into Y instead of overwriting it.
    pub accumulate: bool,
}

impl Default for Epilogue<'_> {
    fn default() -> Self {
        Epilogue {
            alpha: 1.0,
            bias: None,
            act: Act::None,
            accumulate: false,
        }
    }
}

/// Tile edge of one workgroup (64 x 64 outputs).
const TILE: usize = 64;

/// Records Y = epilogue(A . B or A . B^T). Panics on misaligned strides (a programming error, not input).
pub fn forward(rec: &mut Recorder, form: Form, d: Dims, a: Operand, b: Operand, y: Operand, epi: Epilogue) {
    for (name, v) in [
        ("k", d.k),
        ("a", a.off | a.rs | a.so | a.si),
        ("b", b.off | b.rs | b.so | b.si),
    ] {
        assert_eq!(v % 4, 0, "matmul: {name} offsets/strides must be multiples of 4");
    }
    if form == Form::Nn {
        assert_eq!(d.n % 4, 0, "matmul NN: n must be a multiple of 4");
    }
    let uniform = [
        d.m as u32,
        d.n as u32,
        d.k as u32,
        d.batch_inner as u32,
        a.off as u32,
        a.rs as u32,
        a.so as u32,
        a.si as u32,
        b.off as u32,
        b.rs as u32,
        b.so as u32,
        b.si as u32,
        y.off as u32,
        y.rs as u32,
        y.so as u32,
        y.si as u32,
        epi.alpha.to_bits(),
        epi.act as u32,
        epi.bias.is_some() as u32,
        epi.accumulate as u32,
    ];
    let bias = epi.bias.unwrap_or(a.buf);
    let groups = [
        d.n.div_ceil(TILE) as u32,
        d.m.div_ceil(TILE) as u32,
        (d.batch_outer * d.batch_inner) as u32,
    ];
    let k = kernel(form, rec.gpu().subgroup_matmul);
    rec.dispatch(&k, &uniform, &[a.buf, b.buf, bias, y.buf], groups);
}

/// PyTorch's Linear: y (rows, out) = act(x (rows, in) . weight (out, in)^T + bias (out)).
pub fn linear(rec: &mut Recorder, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, act: Act, y: &Tensor) {
    let (n, k) = (weight.shape[0], weight.shape[1]);
    let m = x.len() / k;
    assert_eq!(x.len(), m * k, "linear: input does not match weight {:?}", weight.shape);
    assert!(y.len() >= m * n, "linear: output too small");
    let d = Dims {
        m,
        n,
        k,
        batch_outer: 1,
        batch_inner: 1,
    };
    let epi = Epilogue {
        bias: bias.map(|b| &b.buf),
        act,
        ..Default::default()
    };
    forward(
        rec,
        Form::Nt,
        d,
        Operand::matrix(x, k),
        Operand::matrix(weight, k),
        Operand::matrix(y, n),
        epi,
    );
}
