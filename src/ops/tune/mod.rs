//! Matmul kernels chosen by measurement on each adapter. Each candidate that can run here is first checked
//! against the portable kernel on random inputs of every entry point (a wrong result excludes it, with the
//! reason), then timed on the model's own shapes; per shape class the fastest correct candidate wins. The
//! choice is cached (native: `matmul-tuning.json` in the user's cache directory) under a key made of the
//! adapter, its driver, this crate's version and a hash of the kernels' sources, so later runs start at once.

mod check;
mod shapes;
mod timing;

pub use check::check;
pub use shapes::{bert_shapes, MatmulShape};
pub use timing::{rates, rates_table, time_on, Scratch, ShapeRates};

use std::collections::BTreeMap;

use crate::error::Result;
use crate::gpu::matmul_gen::{MatmulKernel, ShapeClass, CANDIDATES, PORTABLE};
use crate::gpu::{shaders, Gpu};

/// Largest run while tuning: shapes above it are timed on a cut-down copy of the same class.
pub const TUNE_MAX_FLOPS: f64 = 2e8;

/// What tuning found: per class, each candidate's seconds on the class's shape (None: excluded).
#[derive(Debug, Default)]
pub struct TuneReport {
    /// Candidates the check excluded, with why.
    pub excluded: Vec<(MatmulKernel, String)>,
    /// (shape timed, [(candidate, seconds)], winner) for each class that was tuned.
    pub timings: Vec<(MatmulShape, Vec<(MatmulKernel, f64)>, MatmulKernel)>,
    /// Classes whose choice came from the cache.
    pub cached: usize,
}

/// FNV-1a of the kernels' sources: a cached choice is void when any kernel changes.
pub fn kernels_hash() -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let mut text = String::from(shaders::MATMUL_COMMON);
    for k in CANDIDATES {
        text.push_str(&k.source());
    }
    for byte in text.bytes() {
        h ^= byte as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The cache key of this adapter: name, backend, driver, crate version and kernels' hash.
pub fn cache_key(gpu: &Gpu) -> String {
    let i = &gpu.info;
    format!(
        "{} | {:?} | {} {} | bert-wgpu {} | kernels {:016x}",
        i.name,
        i.backend,
        i.driver,
        i.driver_info,
        env!("CARGO_PKG_VERSION"),
        kernels_hash()
    )
}

/// Chooses a kernel for every class of `shapes` not chosen yet: checks the candidates (once), times each
/// correct one on the class's first shape (capped at `max_flops` per run) and records the fastest in the
/// device's plan. `progress(done, total, what)` is called before each timing.
pub async fn tune(
    gpu: &Gpu,
    candidates: &[MatmulKernel],
    shapes: &[MatmulShape],
    max_flops: f64,
    reps: usize,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<TuneReport> {
    let mut report = TuneReport::default();
    let mut todo: BTreeMap<ShapeClass, MatmulShape> = BTreeMap::new();
    for s in shapes {
        let class = s.class();
        if gpu.matmul.borrow().chosen.contains_key(&class) {
            report.cached += 1;
        } else {
            todo.entry(class).or_insert_with(|| s.capped(max_flops));
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    progress(0, todo.len(), "checking the candidates");
    let runnable: Vec<MatmulKernel> = candidates.iter().copied().filter(|k| gpu.can_run(k)).collect();
    let mut valid = Vec::new();
    for (k, verdict) in runnable.iter().zip(check(gpu, &runnable).await?) {
        match verdict {
            None => valid.push(*k),
            Some(why) => report.excluded.push((*k, why)),
        }
    }
    let shapes: Vec<MatmulShape> = todo.values().cloned().collect();
    let scratch = Scratch::new(gpu, &shapes)?;
    for (i, (class, s)) in todo.into_iter().enumerate() {
        progress(i, shapes.len(), &s.label);
        // Screening: one run each on a copy cut to a quarter of the budget; then the three quickest, and
        // any within 25% of the quickest, are timed on the class's shape.
        let small = s.capped(max_flops / 4.0);
        let mut screen = Vec::new();
        for &k in &valid {
            screen.push((k, time_on(gpu, &scratch, Some(k), &small, 1).await?));
        }
        screen.sort_by(|a, b| a.1.total_cmp(&b.1));
        let quickest = screen.first().map_or(0.0, |t| t.1);
        let default = gpu.matmul.borrow().default;
        let finalists: Vec<MatmulKernel> = screen
            .iter()
            .enumerate()
            .filter(|&(i, &(k, t))| i < 3 || t <= 1.25 * quickest || k == default)
            .map(|(_, &(k, _))| k)
            .collect();
        // Rounds over the finalists, each keeping its best, so that a machine whose speed drifts weighs on
        // all of them alike.
        let mut times: Vec<(MatmulKernel, f64)> = finalists.iter().map(|&k| (k, f64::INFINITY)).collect();
        for _ in 0..reps {
            for (k, t) in times.iter_mut() {
                *t = t.min(time_on(gpu, &scratch, Some(*k), &s, 1).await?);
            }
        }
        // The quickest wins unless the adapter's default is within 10% of it (timing noise on a busy
        // machine should not swap a good kernel for an equal one).
        let quickest = times.iter().min_by(|a, b| a.1.total_cmp(&b.1)).copied();
        let default_time = times.iter().find(|t| t.0 == default).map(|t| t.1);
        let winner = match (quickest, default_time) {
            (Some((_, best)), Some(d)) if d <= 1.1 * best => default,
            (Some((k, _)), _) => k,
            (None, _) => PORTABLE,
        };
        gpu.matmul.borrow_mut().chosen.insert(class, winner);
        report.timings.push((s, times, winner));
    }
    progress(shapes.len(), shapes.len(), "done");
    Ok(report)
}

/// The plan's choices as `{class key: kernel name}` (what the cache stores).
pub fn choices_json(gpu: &Gpu) -> serde_json::Map<String, serde_json::Value> {
    gpu.matmul
        .borrow()
        .chosen
        .iter()
        .map(|(c, k)| (c.key(), serde_json::Value::from(k.name)))
        .collect()
}

/// Loads cached choices (`{class key: kernel name}`) into the plan, skipping unknown names, classes and
/// kernels that cannot run here. Returns how many were taken.
pub fn load_choices(gpu: &Gpu, map: &serde_json::Map<String, serde_json::Value>) -> usize {
    let mut taken = 0;
    let mut plan = gpu.matmul.borrow_mut();
    for (key, name) in map {
        let (Some(class), Some(k)) = (ShapeClass::parse(key), name.as_str().and_then(MatmulKernel::by_name)) else {
            continue;
        };
        if gpu.can_run(&k) {
            plan.chosen.insert(class, k);
            taken += 1;
        }
    }
    taken
}
