//! Timing candidates on shapes, and the per-shape rates `bert-wgpu bench` prints.

use super::MatmulShape;

use super::check::random;
use crate::error::Result;
use crate::gpu::matmul_gen::MatmulKernel;
use crate::gpu::{Gpu, Recorder, Tensor};
use crate::ops::matmul::{self, Epilogue, Operand};
use crate::rng::Rng;

/// Seconds of now, for timing (wall clock natively, `Date.now()` in a browser).
pub(super) fn now() -> f64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
    // `performance.now()` (window and worker alike; finer than `Date.now()`'s milliseconds), else Date.
    #[cfg(target_arch = "wasm32")]
    {
        use js_sys::{Function, Reflect};
        use wasm_bindgen::JsCast;
        let performance = Reflect::get(&js_sys::global(), &"performance".into()).ok();
        let ms = performance
            .as_ref()
            .and_then(|p| Some((p, Reflect::get(p, &"now".into()).ok()?.dyn_into::<Function>().ok()?)))
            .and_then(|(p, now)| now.call0(p).ok()?.as_f64());
        ms.unwrap_or_else(js_sys::Date::now) / 1e3
    }
}

/// Buffers big enough for every shape timed.
pub struct Scratch {
    a: Tensor,
    b: Tensor,
    y: Tensor,
}

impl Scratch {
    pub fn new(gpu: &Gpu, shapes: &[MatmulShape]) -> Result<Scratch> {
        let (mut a, mut b, mut y) = (4, 4, 4);
        for s in shapes {
            let (sa, sb, sy) = s.sizes();
            a = a.max(sa);
            b = b.max(sb);
            y = y.max(sy);
        }
        let mut rng = Rng::new(11);
        Ok(Scratch {
            a: gpu.upload(&random(&mut rng, a), &[a], "bench a")?,
            b: gpu.upload(&random(&mut rng, b), &[b], "bench b")?,
            y: gpu.zeros(&[y], "bench y")?,
        })
    }
}

/// Best of `reps` seconds of one candidate (None: the plan's choice) on one shape, after a warm-up run
/// (which also builds the pipeline), on buffers of `sc`.
pub async fn time_on(gpu: &Gpu, sc: &Scratch, k: Option<MatmulKernel>, s: &MatmulShape, reps: usize) -> Result<f64> {
    let (a_rs, b_rs, y_rs) = s.strides();
    let (sa, sb, sy) = s.sizes();
    fn op(t: &Tensor, rs: usize, size: usize, batch: usize) -> Operand<'_> {
        Operand {
            buf: &t.buf,
            off: 0,
            rs,
            so: 0,
            si: size / batch,
            zero_tail: true, // as the model's padded logits are (only A's matters; values do not)
        }
    }
    let mut best = f64::INFINITY;
    for rep in 0..=reps {
        let mut rec = Recorder::new(gpu);
        let z = s.batch;
        let (a, b, y) = (op(&sc.a, a_rs, sa, z), op(&sc.b, b_rs, sb, z), op(&sc.y, y_rs, sy, z));
        match k {
            Some(k) => matmul::forward_with(&mut rec, k, s.form, s.dims(), a, b, y, Epilogue::default()),
            None => matmul::forward(&mut rec, s.form, s.dims(), a, b, y, Epilogue::default()),
        }
        let t = now();
        rec.submit_and_read(&[(&sc.y.buf, 0, 1)]).await?;
        if rep > 0 {
            best = best.min(now() - t);
        }
    }
    Ok(best)
}

/// One shape of [`rates`]: every candidate's GFLOP/s and auto's.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShapeRates {
    pub label: String,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    /// (candidate, GFLOP/s, whether the real shape was timed: false for a candidate more than twice as slow
    /// as the quickest on the cut-down copy, whose rate is that copy's).
    pub candidates: Vec<(String, f64, bool)>,
    /// The plan's kernel for this shape, and its GFLOP/s.
    pub auto: (String, f64),
}

/// Every candidate's GFLOP/s on every shape, then auto's (the plan as it stands). A first round on a copy
/// cut to at most 0.2 GFLOP; candidates more than twice as slow there as the quickest keep that figure, the
/// others go round the real shape `reps` times, each keeping its best, so that a machine whose speed drifts
/// weighs on all of them alike. `progress(done, total, label)` is called before each shape.
pub async fn rates(
    gpu: &Gpu,
    candidates: &[MatmulKernel],
    shapes: &[MatmulShape],
    reps: usize,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Vec<ShapeRates>> {
    let scratch = Scratch::new(gpu, shapes)?;
    let mut out = Vec::new();
    for (i, s) in shapes.iter().enumerate() {
        progress(i, shapes.len(), &s.label);
        let runs: Vec<Option<MatmulKernel>> = candidates.iter().map(|&k| Some(k)).chain([None]).collect();
        let small = s.capped(super::TUNE_MAX_FLOPS);
        let mut first = Vec::new();
        for k in &runs {
            first.push(small.flops() / time_on(gpu, &scratch, *k, &small, 1).await? / 1e9);
        }
        let quickest = first.iter().copied().fold(0.0, f64::max);
        let full: Vec<bool> = first.iter().map(|&r| r * 2.0 >= quickest).collect();
        let mut secs = vec![f64::INFINITY; runs.len()];
        for _ in 0..reps {
            for ((k, best), measure) in runs.iter().zip(secs.iter_mut()).zip(&full) {
                if *measure {
                    *best = best.min(time_on(gpu, &scratch, *k, s, 1).await?);
                }
            }
        }
        let gflops: Vec<f64> = secs
            .iter()
            .zip(&full)
            .zip(&first)
            .map(|((t, measured), rate)| if *measured { s.flops() / t / 1e9 } else { *rate })
            .collect();
        let pick = gpu.matmul.borrow().kernel(&s.class());
        out.push(ShapeRates {
            label: s.label.clone(),
            m: s.m,
            n: s.n,
            k: s.k,
            batch: s.batch,
            candidates: candidates
                .iter()
                .zip(&gflops)
                .zip(&full)
                .map(|((k, r), f)| (k.name.to_string(), *r, *f))
                .collect(),
            auto: (pick.name.to_string(), *gflops.last().unwrap_or(&0.0)),
        });
    }
    progress(shapes.len(), shapes.len(), "done");
    Ok(out)
}

/// [`rates`] as the table `bert-wgpu bench` and the browser's bench page print: a header, a line per
/// shape (`*` marks auto's pick, `~` a rate from the cut-down copy) and auto's worst share of the best.
pub fn rates_table(rows: &[ShapeRates]) -> Vec<String> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let mut names: Vec<&str> = first.candidates.iter().map(|c| c.0.as_str()).collect();
    names.push("auto");
    let mut lines = vec![format!(
        "  {:<24} {:>22}  {}",
        "shape",
        "m x n x k (x batch)",
        names.join("  ")
    )];
    let mut worst_auto = f64::INFINITY;
    for r in rows {
        let best = r.candidates.iter().map(|c| c.1).fold(0.0, f64::max);
        worst_auto = worst_auto.min(r.auto.1 / best);
        let cells: Vec<String> = r
            .candidates
            .iter()
            .map(|(name, rate, measured)| {
                let mark = match (*name == r.auto.0, measured) {
                    (true, _) => "*",
                    (false, false) => "~",
                    _ => " ",
                };
                format!("{rate:>w$.2}{mark}", w = name.len().max(6))
            })
            .collect();
        let batch = if r.batch > 1 {
            format!(" x {}", r.batch)
        } else {
            String::new()
        };
        lines.push(format!(
            "  {:<24} {:>22}  {}  {:.2} ({:.0}% of the best)",
            r.label,
            format!("{} x {} x {}{batch}", r.m, r.n, r.k),
            cells.join(" "),
            r.auto.1,
            100.0 * r.auto.1 / best
        ));
    }
    lines.push(format!(
        "  auto reaches at least {:.0}% of the best fixed candidate on every shape",
        100.0 * worst_auto
    ));
    lines
}
