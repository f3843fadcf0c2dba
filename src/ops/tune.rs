//! Matmul kernels chosen by measurement on each adapter. Each candidate that can run here is first checked
//! against the portable kernel on random inputs of every entry point (a wrong result excludes it, with the
//! reason), then timed on the model's own shapes; per shape class the fastest correct candidate wins. The
//! choice is cached (native: `matmul-tuning.json` in the user's cache directory) under a key made of the
//! adapter, its driver, this crate's version and a hash of the kernels' sources, so later runs start at once.

use std::collections::BTreeMap;

use super::matmul::{self, Dims, Epilogue, Form, Operand};
use super::Act;
use crate::error::Result;
use crate::gpu::matmul_gen::{Entry, MatmulKernel, ShapeClass, CANDIDATES, PORTABLE};
use crate::gpu::{shaders, Gpu, Recorder, Tensor};
use crate::model::BertConfig;
use crate::rng::Rng;

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

    fn dims(&self) -> Dims {
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
    fn strides(&self) -> (usize, usize, usize) {
        let n4 = self.n.next_multiple_of(4);
        match self.form {
            Form::Nt => (self.k, self.k, self.n),
            Form::Nn => (self.k.next_multiple_of(4), n4, self.n),
            Form::Tn => (self.m.next_multiple_of(4), n4, self.n),
        }
    }

    pub fn entry(&self) -> Entry {
        matmul::entry_for_layout(self.form, &self.dims(), self.strides().0 % 4 == 0, true)
    }

    pub fn class(&self) -> ShapeClass {
        ShapeClass::of(self.entry(), self.m, self.n, self.k, self.batch)
    }

    /// Values of A, B and Y.
    fn sizes(&self) -> (usize, usize, usize) {
        let (a_rs, b_rs, _) = self.strides();
        let a_rows = if self.form == Form::Tn { self.k } else { self.m };
        let b_rows = if self.form == Form::Nt { self.n } else { self.k };
        let z = self.batch;
        (z * a_rows * a_rs, z * b_rows * b_rs, z * self.m * self.n)
    }

    /// The same shape with its largest dimension cut so that one run costs at most `max_flops` (tuning
    /// stays short; the class, and so the choice, is the real shape's).
    pub fn capped(&self, max_flops: f64) -> MatmulShape {
        let mut s = self.clone();
        while s.flops() > max_flops {
            let biggest = s.m.max(s.n).max(s.k);
            if biggest <= 64 {
                break;
            }
            // Halved, keeping the remainder by 4 so that the cut copy runs the same entry point.
            let half = (biggest / 2) / 4 * 4 + biggest % 4;
            if s.m == biggest {
                s.m = half;
            } else if s.n == biggest {
                s.n = half;
            } else {
                s.k = half;
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

/// `n` uniform values in [-1, 1).
fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()
}

/// Runs one candidate on one shape with explicit operands and returns Y.
#[allow(clippy::too_many_arguments)]
async fn run_case(
    gpu: &Gpu,
    k: MatmulKernel,
    form: Form,
    d: Dims,
    a: Operand<'_>,
    b: Operand<'_>,
    y0: &[f32],
    bias: &Tensor,
) -> Result<Vec<f32>> {
    let y = gpu.upload(y0, &[y0.len()], "tune y")?;
    let mut rec = Recorder::new(gpu);
    let epi = Epilogue {
        alpha: 0.5,
        bias: Some(&bias.buf),
        act: Act::Gelu,
        accumulate: true,
    };
    let yo = Operand {
        buf: &y.buf,
        off: 4,
        rs: d.n + 4,
        so: 0,
        si: d.m * (d.n + 4),
        zero_tail: false,
    };
    matmul::forward_with(&mut rec, k, form, d, a, b, yo, epi);
    Ok(rec.submit_and_read(&[(&y.buf, 0, y0.len())]).await?.remove(0))
}

/// Compares `k` with the portable kernel on every entry point, at ragged sizes over two matrices with
/// padded strides, bias, activation, scaling and accumulation. Returns why it is wrong, if it is.
/// Each of `kernels` gets `None` when it agrees, else why it is wrong; the portable kernel's result of each
/// case is computed once for all of them.
pub async fn check(gpu: &Gpu, kernels: &[MatmulKernel]) -> Result<Vec<Option<String>>> {
    let mut verdicts: Vec<Option<String>> = vec![None; kernels.len()];
    let mut rng = Rng::new(7);
    // (form, m, n, k, A row stride padding, A aligned to 4 with a zero tail): an aligned A picks the
    // A-by-vec4 entry (NN past an odd k only over a zero tail), an unaligned one the scalar entry.
    let cases = [
        (Form::Nt, 37, 70, 36, 4, true),
        (Form::Nt, 130, 136, 132, 0, true),
        (Form::Nn, 37, 68, 35, 1, false),
        (Form::Nn, 37, 68, 35, 1, true),
        (Form::Nn, 130, 136, 132, 0, true),
        (Form::Tn, 37, 68, 35, 1, false),
        (Form::Tn, 37, 68, 35, 3, true),
        (Form::Tn, 132, 136, 130, 0, true),
    ];
    for (form, m, n, kk, pad, aligned) in cases {
        let batch = 2;
        let d = Dims {
            m,
            n,
            k: kk,
            batch_outer: 1,
            batch_inner: batch,
        };
        // A: Nt/Nn (m, k) rows, Tn (k, m) rows; B: Nt (n, k), Nn/Tn (k, n); each row padded.
        let (a_rows, a_cols) = if form == Form::Tn { (kk, m) } else { (m, kk) };
        let (b_rows, b_cols) = if form == Form::Nt { (n, kk) } else { (kk, n) };
        let a_rs = a_cols + pad;
        let b_rs = b_cols.next_multiple_of(4) + 4;
        let mut a_host = random(&mut rng, 4 + batch * a_rows * a_rs);
        let a_off = if aligned { 4 } else { 1 };
        if aligned {
            // Zeros from each row's end up to the next multiple of 4.
            for r in 0..batch * a_rows {
                let row = a_off + r * a_rs;
                a_host[row + a_cols..row + a_cols.next_multiple_of(4)].fill(0.0);
            }
        }
        let b_host = random(&mut rng, 4 + batch * b_rows * b_rs);
        let at = gpu.upload(&a_host, &[a_host.len()], "tune a")?;
        let bt = gpu.upload(&b_host, &[b_host.len()], "tune b")?;
        let bias = gpu.upload(&random(&mut rng, n), &[n], "tune bias")?;
        let y0 = random(&mut rng, 4 + batch * m * (n + 4));
        let a = Operand {
            buf: &at.buf,
            off: a_off,
            rs: a_rs,
            so: 0,
            si: a_rows * a_rs,
            zero_tail: aligned,
        };
        let b = Operand {
            buf: &bt.buf,
            off: 4,
            rs: b_rs,
            so: 0,
            si: b_rows * b_rs,
            zero_tail: false,
        };
        let want = run_case(gpu, PORTABLE, form, d, a, b, &y0, &bias).await?;
        let entry = matmul::entry_for(form, &d, &a);
        for (&k, verdict) in kernels.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue; // already excluded by an earlier case
            }
            let got = run_case(gpu, k, form, d, a, b, &y0, &bias).await?;
            let wrong = got
                .iter()
                .zip(&want)
                .enumerate()
                .find(|(_, (g, w))| !((*g - *w).abs() <= 1e-4 * (1.0 + w.abs())));
            if let Some((i, (g, w))) = wrong {
                *verdict = Some(format!(
                    "{} at {m}x{n}x{kk}: Y[{i}] = {g}, the portable kernel gives {w}",
                    entry.name()
                ));
            }
        }
    }
    Ok(verdicts)
}

/// Seconds of now, for timing (wall clock natively, `Date.now()` in a browser).
fn now() -> f64 {
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
        // Screening: one run each on a copy cut to an eighth of the budget; then the three quickest, and
        // any within 25% of the quickest, are timed on the class's shape.
        let small = s.capped(max_flops / 8.0);
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
        let small = s.capped(2e8);
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

/// The matmul shapes of a model at (batch, seq) with `rows` masked positions (0: no MLM head).
pub fn model_shapes(c: &BertConfig, batch: usize, seq: usize, rows: usize, training: bool) -> Vec<MatmulShape> {
    bert_shapes(
        c.hidden_size,
        c.intermediate_size,
        c.num_attention_heads,
        c.vocab_size,
        batch,
        seq,
        rows,
        training,
    )
}
