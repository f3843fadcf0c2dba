//! Shared test helpers: the GPU (or a printed skip outside CI), model files, comparisons, random values.
#![allow(dead_code)]

use bert_wgpu::Gpu;

/// `None` with a printed reason why a test is skipped; under `CI` (which provides everything the tests
/// need) a failure instead.
pub fn skip<T>(why: impl std::fmt::Display) -> Option<T> {
    if std::env::var("CI").is_ok() {
        panic!("CI=true but {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// The GPU adapter, or `None` with a printed reason when there is none and `CI` is not set.
/// Under `CI=true` a missing adapter fails the test.
pub fn gpu() -> Option<Gpu> {
    match pollster::block_on(Gpu::new()) {
        Ok(g) => Some(g),
        Err(e) => skip(format!("no GPU adapter: {e}")),
    }
}

/// The all-MiniLM-L6-v2 checkpoint directory when it holds each of `files`: `BERT_WGPU_MINILM`, else
/// models/all-MiniLM-L6-v2 (scripts/fetch-minilm.sh fetches it; CI does). Absent: [`skip`].
pub fn minilm_dir(files: &[&str]) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("BERT_WGPU_MINILM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2"));
    if files.iter().all(|f| dir.join(f).is_file()) {
        return Some(dir);
    }
    skip(format!(
        "no all-MiniLM-L6-v2 checkpoint with {} at {} (set BERT_WGPU_MINILM or run scripts/fetch-minilm.sh)",
        files.join(", "),
        dir.display()
    ))
}

/// The values of `tensors` after the recorded work has run.
pub fn read_tensors(rec: bert_wgpu::gpu::Recorder, tensors: &[&bert_wgpu::gpu::Tensor]) -> Vec<Vec<f32>> {
    let ranges: Vec<_> = tensors.iter().map(|t| (&t.buf, 0, t.len())).collect();
    pollster::block_on(rec.submit_and_read(&ranges)).unwrap()
}

/// Every gradient of `grads` read back, under the checkpoint names (the fused QKV projection split into
/// query, key and value as transformers names them).
pub fn read_gradients(
    gpu: &Gpu,
    grads: &bert_wgpu::model::weights::Weights,
) -> Vec<(String, bert_wgpu::io::HostTensor)> {
    let named = grads.named();
    let tensors: Vec<&bert_wgpu::gpu::Tensor> = named.iter().map(|(_, g)| *g).collect();
    let data = read_tensors(bert_wgpu::gpu::Recorder::new(gpu), &tensors);
    named
        .iter()
        .zip(data)
        .flat_map(|((name, g), data)| {
            let host = bert_wgpu::io::HostTensor {
                shape: g.shape.clone(),
                data,
            };
            bert_wgpu::model::weights::split_qkv(name, host)
        })
        .collect()
}

/// The GPU once per matmul candidate that runs on it, with that candidate forced for every matmul (empty
/// when there is no adapter outside CI). Parity must hold whichever kernel `auto` picks.
pub fn gpus_per_kernel() -> Vec<Gpu> {
    let Some(first) = gpu() else { return Vec::new() };
    first
        .candidates()
        .iter()
        .map(|k| {
            let mut g = gpu().unwrap();
            g.force_kernels(k.name).unwrap();
            g
        })
        .collect()
}

/// The candidate a GPU of [`gpus_per_kernel`] forces.
pub fn kernel_name(gpu: &Gpu) -> &'static str {
    gpu.matmul.borrow().forced.map_or("auto", |k| k.name)
}

/// The command-line binary, with a fixed matmul kernel so that runs compared with each other (resume,
/// browser parity) use the same summation order whatever tuning would pick; the `auto` path has its own
/// test.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bert-wgpu"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c.env("BERT_WGPU_KERNELS", "portable");
    c
}

/// The files of a model directory on disk (config.json, model.safetensors, the tokenizer files present).
pub fn read_model_dir(dir: &std::path::Path) -> bert_wgpu::io::ModelFiles {
    let opt = |name: &str| std::fs::read(dir.join(name)).ok();
    bert_wgpu::io::ModelFiles {
        config: std::fs::read(dir.join("config.json")).unwrap(),
        weights: std::fs::read(dir.join("model.safetensors")).unwrap(),
        tokenizer_json: opt("tokenizer.json"),
        vocab_txt: opt("vocab.txt"),
        tokenizer_config: opt("tokenizer_config.json"),
        special_tokens_map: opt("special_tokens_map.json"),
    }
}

/// Asserts that `out` holds at least one `checkpoint-<step>` directory and that each is complete: the
/// model, the optimizer state and the trainer state.
pub fn assert_complete_checkpoints(out: &std::path::Path) {
    let checkpoints: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
        .collect();
    assert!(!checkpoints.is_empty(), "no checkpoint was kept");
    for c in checkpoints {
        for f in [
            "config.json",
            "model.safetensors",
            "optimizer.safetensors",
            "trainer_state.json",
        ] {
            assert!(c.path().join(f).exists(), "{}: {f} missing", c.path().display());
        }
    }
}

/// Largest |a - b| over two slices of equal length.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Asserts max |a - b| <= tol, naming the tensor.
pub fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    let d = max_abs_diff(got, want);
    assert!(d <= tol, "{name}: max abs difference {d:e} > tolerance {tol:e}");
    assert!(got.iter().all(|x| x.is_finite()), "{name}: non-finite values");
}

/// Deterministic pseudo-random values in [-scale, scale).
pub fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = bert_wgpu::rng::Rng::new(seed);
    (0..n).map(|_| ((rng.uniform() * 2.0 - 1.0) as f32) * scale).collect()
}

/// A safetensors file written by the reference writer (the `safetensors` crate), the way PyTorch-side
/// scripts make fixtures: (name, dtype, shape, little-endian bytes) per tensor.
pub fn reference_file(tensors: &[(&str, safetensors::Dtype, &[usize], Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, safetensors::tensor::TensorView::new(*d, s.to_vec(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// A file or directory under `tests/fixtures`.
pub fn fixture(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(p)
}

/// A fresh, empty scratch directory under the target directory.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Asserts a failure whose last stderr line mentions every `needle`, without a panic.
pub fn assert_clear_error((code, _, err): (i32, String, String), needles: &[&str]) {
    assert_ne!(code, 0, "expected a failure; stderr: {err}");
    assert!(!err.contains("panicked"), "panic instead of an error: {err}");
    let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    for n in needles {
        assert!(last.contains(n), "error {last:?} does not mention {n:?}");
    }
}
