//! Dropout (shaders/dropout.wgsl) with a counter-based hash mask: element i of site `stream` under the
//! step's `seed` is kept where `rng_hash(seed, stream, i) >= round(p * 2^32)`, so the backward recomputes
//! the mask and nothing is uploaded or stored. A run is reproducible from its seed.

use super::grid_1d;
use crate::gpu::Access::{Read as R, ReadWrite as W, Uniform as U};
use crate::gpu::{Kernel, Recorder, Shader, Tensor};

/// `shaders/dropout.wgsl`, every entry point of this op.
const SHADER: Shader = crate::wgsl_file!("dropout.wgsl");

// reads inp; writes out
const FORWARD: Kernel = Kernel::new::<DropoutParams>(SHADER, "dropout_forward", &[U, R, W]);

// reads dout; writes dinp
const BACKWARD: Kernel = Kernel::new::<DropoutParams>(SHADER, "dropout_backward", &[U, R, W]);

/// The PCG hash of common.wgsl (Jarzynski & Olano 2020), a bijection on u32.
pub fn pcg_hash(x: u32) -> u32 {
    let state = x.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// The shader's `rng_hash(seed, stream, index)`, on the host.
pub fn rng_hash(seed: u32, stream: u32, index: u32) -> u32 {
    pcg_hash(index.wrapping_add(pcg_hash(stream.wrapping_add(pcg_hash(seed)))))
}

/// The seed of one training step from the run's seed: distinct for every step of a run (a bijection of
/// `step` for a fixed run seed), so masks never repeat within 2^32 steps.
pub fn step_seed(run_seed: u64, step: u64) -> u32 {
    let run = pcg_hash(run_seed as u32 ^ pcg_hash((run_seed >> 32) as u32));
    pcg_hash((step as u32).wrapping_add(run))
}

/// Whether element `index` is kept (the shader's test, on the host).
pub fn keeps(p: f32, seed: u32, stream: u32, index: u32) -> bool {
    rng_hash(seed, stream, index) >= threshold(p)
}

fn threshold(p: f32) -> u32 {
    assert!((0.0..1.0).contains(&p), "dropout: p = {p} must be in [0, 1)");
    (p as f64 * 4294967296.0).round().min(u32::MAX as f64) as u32
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DropoutParams {
    n: u32,
    threshold: u32,
    scale: f32,
    seed: u32,
    stream: u32,
}

fn params(n: usize, p: f32, seed: u32, stream: u32) -> DropoutParams {
    DropoutParams {
        n: n as u32,
        threshold: threshold(p),
        scale: (1.0 / (1.0 - p as f64)) as f32,
        seed,
        stream,
    }
}

/// out = inp * keep / (1 - p), elementwise over the flat index. `seed` is the step's seed (`step_seed`),
/// `stream` the dropout site (distinct per layer and place). p = 0 is an exact copy.
pub fn forward(rec: &mut Recorder, inp: &Tensor, out: &Tensor, p: f32, seed: u32, stream: u32) {
    assert_eq!(inp.len(), out.len(), "dropout: inp and out sizes");
    let n = inp.len();
    rec.dispatch(&FORWARD, &params(n, p, seed, stream), &[&inp.buf, &out.buf], grid_1d(n));
}

/// dinp = dout * keep / (1 - p), with the mask of the forward of the same p, seed and stream.
pub fn backward(rec: &mut Recorder, dout: &Tensor, dinp: &Tensor, p: f32, seed: u32, stream: u32) {
    assert_eq!(dout.len(), dinp.len(), "dropout backward: dout and dinp sizes");
    let n = dout.len();
    rec.dispatch(
        &BACKWARD,
        &params(n, p, seed, stream),
        &[&dout.buf, &dinp.buf],
        grid_1d(n),
    );
}

/// This op's kernels, for the check of their bindings against the WGSL (tests/shaders.rs).
pub const KERNELS: &[Kernel] = &[FORWARD, BACKWARD];
