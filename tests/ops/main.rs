//! Every op against its reference, one module per op (`shaders/<op>.wgsl`, `src/ops/<op>.rs`): the forward
//! and the backward side by side, against the op's PyTorch-style reference in f64 (in the op's file) and
//! finite differences.

#[path = "../common/mod.rs"]
mod common;

mod adamw;
mod attention;
mod cross_entropy;
mod dropout;
mod embedding;
mod gelu;
mod layernorm;
mod matmul;
mod mse;
mod span;

use crate::common::read_tensors;
use bert_wgpu::gpu::Gpu;
use bert_wgpu::gpu::Recorder;
use bert_wgpu::gpu::Tensor;
use bert_wgpu::rng::Rng;

/// Central-difference step in f64: truncation error ~ h^2 |f'''| ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11.
pub const FD_STEP: f64 = 1e-5;

/// Agreement of an analytic derivative with its finite difference, relative to max(1, |derivative|):
/// both error terms above are far below it, while a wrong formula misses by O(1).
pub const FD_TOL: f64 = 1e-7;

/// Entries probed per finite-difference check.
pub const FD_PROBES: usize = 12;

pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

pub fn up(gpu: &Gpu, v: &[f32], shape: &[usize]) -> Tensor {
    gpu.upload(v, shape, "test").unwrap()
}

/// Checks `grad` = d f / d x at FD_PROBES random entries of x by central differences.
pub fn fd_check(name: &str, f: impl Fn(&[f64]) -> f64, x: &[f64], grad: &[f64], seed: u64) {
    assert_eq!(x.len(), grad.len(), "{name}: gradient length");
    let mut rng = Rng::new(seed);
    for _ in 0..FD_PROBES {
        let i = (rng.next_u64() % x.len() as u64) as usize;
        let mut xp = x.to_vec();
        xp[i] += FD_STEP;
        let mut xm = x.to_vec();
        xm[i] -= FD_STEP;
        let fd = (f(&xp) - f(&xm)) / (2.0 * FD_STEP);
        let err = (fd - grad[i]).abs() / grad[i].abs().max(1.0);
        assert!(
            err <= FD_TOL,
            "{name}: entry {i}: analytic {} vs finite difference {fd} (error {err:e})",
            grad[i]
        );
    }
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn read_one(rec: Recorder, t: &Tensor) -> Vec<f32> {
    read_tensors(rec, &[t]).remove(0)
}

// ---- references shared by the ops ----

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
