//! Matrix products (shaders/matmul.wgsl, shaders/matmul_subgroup.wgsl) in the three forms forward and
//! backward need: NT `Y = act(alpha * A.B^T + bias)` (Linear, Q.K^T), NN `Y = A.B` (P.V, dX = dY.W) and
//! TN `Y = A^T.B` (dW = dY^T.X, dV = P^T.dO), batched with strides so attention's per-head products read
//! Q, K and V in place. The subgroup variant is chosen when the adapter has one.

use super::Act;
use crate::gpu::{Access, Kernel, Recorder, Shader, Tensor};

const BINDINGS: &[Access] = &[
    Access::Uniform,
    Access::Read,      // a (batch, m, k)
    Access::Read,      // b: NT (batch, n, k); NN (batch, k, n)
    Access::Read,      // bias (n)
    Access::ReadWrite, // y (batch, m, n)
];

/// Operand layouts. `Nt`: A (m, k), B (n, k), both contiguous along k. `Nn`: A (m, k), B (k, n).
/// `Tn`: A stored (k, m), B (k, n). B of `Nn`/`Tn` is contiguous along n; A of `Nn`/`Tn` may have any stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Nt,
    Nn,
    Tn,
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
        Form::Tn => "matmul_tn_forward",
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
    // vec4 reads: B always; A and k only in the NT form.
    assert_eq!(
        (b.off | b.rs | b.so | b.si) % 4,
        0,
        "matmul {form:?}: B offsets/strides must be multiples of 4"
    );
    if form == Form::Nt {
        assert_eq!(
            (d.k | a.off | a.rs | a.so | a.si) % 4,
            0,
            "matmul NT: k and A strides must be multiples of 4"
        );
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

/// Backward of [`linear`]: dx (rows, in) (=, or += when `accumulate_dx`) = dy . weight,
/// dweight (out, in) += dy^T . x, dbias (out) += column sums of dy; `ones` is a (rows, 4) tensor of ones.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    rec: &mut Recorder,
    x: &Tensor,
    weight: &Tensor,
    dy: &Tensor,
    dx: Option<&Tensor>,
    accumulate_dx: bool,
    dweight: &Tensor,
    dbias: Option<(&Tensor, &Tensor)>,
) {
    let (n, k) = (weight.shape[0], weight.shape[1]);
    let m = x.len() / k;
    let one = Dims {
        m,
        n: k,
        k: n,
        batch_outer: 1,
        batch_inner: 1,
    };
    if let Some(dx) = dx {
        let epi = Epilogue {
            accumulate: accumulate_dx,
            ..Default::default()
        };
        forward(
            rec,
            Form::Nn,
            one,
            Operand::matrix(dy, n),
            Operand::matrix(weight, k),
            Operand::matrix(dx, k),
            epi,
        );
    }
    let acc = Epilogue {
        accumulate: true,
        ..Default::default()
    };
    let dw = Dims {
        m: n,
        n: k,
        k: m,
        batch_outer: 1,
        batch_inner: 1,
    };
    forward(
        rec,
        Form::Tn,
        dw,
        Operand::matrix(dy, n),
        Operand::matrix(x, k),
        Operand::matrix(dweight, k),
        acc,
    );
    if let Some((dbias, ones)) = dbias {
        // dbias (out, 1) += dy^T (out, rows) . ones (rows, 1): a TN product whose B is a column of ones
        // stored with row stride 4, as the kernel reads B four values at a time.
        let db = Dims {
            m: n,
            n: 1,
            k: m,
            batch_outer: 1,
            batch_inner: 1,
        };
        let ones_op = Operand {
            buf: &ones.buf,
            off: 0,
            rs: 4,
            so: 0,
            si: 0,
        };
        forward(
            rec,
            Form::Tn,
            db,
            Operand::matrix(dy, n),
            ones_op,
            Operand::matrix(dbias, 1),
            acc,
        );
    }
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
