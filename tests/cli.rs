//! The command line end to end: bad input gives one clear line and a non-zero exit; pretraining on a
//! small corpus lowers the loss and resumes exactly.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_clear_error, bin, fixture, run, scratch};

/// Copies the tiny model to a scratch directory, optionally replacing one file.
fn model_with(name: &str, file: &str, bytes: Option<&[u8]>) -> PathBuf {
    let dir = scratch(name);
    for entry in std::fs::read_dir(fixture("tiny-bert")).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    damage(&dir.join(file), bytes);
    dir
}

#[test]
fn bad_model_directories_are_clear_errors() {
    let Some(_) = common::gpu() else { return };
    let fill = |dir: &Path| run(bin().args(["fill-mask", "--model"]).arg(dir).arg("the [MASK] ."));
    let weights = std::fs::read(fixture("tiny-bert/model.safetensors")).unwrap();
    assert_clear_error(
        fill(&model_with("missing-weights", "model.safetensors", None)),
        &["model.safetensors"],
    );
    let truncated = model_with("truncated", "model.safetensors", Some(&weights[..weights.len() / 2]));
    assert_clear_error(fill(&truncated), &["model.safetensors", "truncated"]);
    let corrupt = model_with(
        "corrupt",
        "model.safetensors",
        Some(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......"),
    );
    assert_clear_error(fill(&corrupt), &["model.safetensors"]);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("tiny-bert/config.json")).unwrap()).unwrap();
    config["num_attention_heads"] = 5.into();
    let heads = model_with("heads", "config.json", Some(config.to_string().as_bytes()));
    assert_clear_error(fill(&heads), &["hidden_size", "num_attention_heads"]);
    config["num_attention_heads"] = 4.into();
    config["hidden_size"] = 48.into(); // the weights are 32 wide
    let shape = model_with("shape", "config.json", Some(config.to_string().as_bytes()));
    assert_clear_error(fill(&shape), &["bert.embeddings.word_embeddings.weight", "shape"]);
    let dir = model_with("no-tokenizer", "vocab.txt", None);
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    assert_clear_error(fill(&dir), &["tokenizer.json", "vocab.txt"]);
}

#[test]
fn bad_texts_are_clear_errors() {
    let Some(_) = common::gpu() else { return };
    let model = fixture("tiny-bert");
    assert_clear_error(
        run(bin().args(["fill-mask", "--model"]).arg(&model).arg("the king .")),
        &["[MASK]"],
    );
    assert_clear_error(
        run(bin().args(["fill-mask", "--model"]).arg(&model).arg(" ")),
        &["empty"],
    );
    assert_clear_error(run(bin().args(["embed", "--model"]).arg(&model).arg("")), &["empty"]);
}

#[test]
fn long_texts_are_truncated_with_a_warning() {
    let Some(_) = common::gpu() else { return };
    let long = "the king ".repeat(40) + "[MASK] .";
    // A mask past max_position_embeddings (32) is cut off with the text: the error says so, gives where the
    // first mask was and does not repeat the text, whether the text has one mask or several.
    for text in [long.clone(), long.replace("[MASK] .", "[MASK] [MASK] the [MASK] .")] {
        let result = run(bin()
            .args(["fill-mask", "--json", "--model"])
            .arg(fixture("tiny-bert"))
            .arg(&text));
        assert!(result.2.contains("truncated"), "{}", result.2);
        assert!(result.2.len() < 400, "the error repeats the text: {}", result.2);
        assert_clear_error(
            result,
            &["text 1", "[MASK] is token 82", "max_position_embeddings (32)"],
        );
    }
    let (code, out, err) = run(bin()
        .args(["embed", "--json", "--model"])
        .arg(fixture("tiny-bert"))
        .arg(&long));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("truncated"), "{err}");
    let v: Vec<Vec<f32>> = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0].len(), 32);
}

/// A small corpus in the BERT format: short documents of simple sentences.
fn write_corpus(dir: &Path) -> PathBuf {
    let subjects = [
        "the king",
        "the queen",
        "a man",
        "a woman",
        "the dog",
        "my sister",
        "his father",
        "our friend",
    ];
    let verbs = ["loves", "sees", "visits", "admires", "finds", "meets", "hears", "helps"];
    let objects = [
        "the house",
        "a letter",
        "the garden",
        "her mother",
        "the city",
        "a horse",
        "the ball",
        "his wife",
    ];
    let mut rng = bert_wgpu::rng::Rng::new(7);
    let mut text = String::new();
    for _ in 0..60 {
        for _ in 0..6 {
            let pick = |xs: &[&str], rng: &mut bert_wgpu::rng::Rng| {
                xs[(rng.next_u64() % xs.len() as u64) as usize].to_string()
            };
            text += &format!(
                "{} {} {} .\n",
                pick(&subjects, &mut rng),
                pick(&verbs, &mut rng),
                pick(&objects, &mut rng)
            );
        }
        text += "\n";
    }
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    path
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["split"] == "train")
        .collect()
}

/// A corpus, a WordPiece vocabulary trained on it and a 2-layer config: what `bert-wgpu pretrain` needs.
struct PretrainInputs {
    corpus: PathBuf,
    vocab: PathBuf,
    config: PathBuf,
}

impl PretrainInputs {
    fn new(dir: &Path) -> PretrainInputs {
        let corpus = write_corpus(dir);
        let vocab = dir.join("vocab");
        let (code, _, err) = run(bin()
            .args(["vocab", "--size", "60", "--min-frequency", "1", "--corpus"])
            .arg(&corpus)
            .arg("--out")
            .arg(&vocab));
        assert_eq!(code, 0, "{err}");
        let config = dir.join("config.json");
        let c = serde_json::json!({"vocab_size": 1, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 64, "max_position_embeddings": 64, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0});
        std::fs::write(&config, c.to_string()).unwrap();
        PretrainInputs { corpus, vocab, config }
    }

    /// A fresh scratch directory `name` with the inputs in it; `None` (the test is skipped) without a GPU.
    fn in_scratch(name: &str) -> Option<(PathBuf, PretrainInputs)> {
        common::gpu()?;
        let dir = scratch(name);
        let inputs = PretrainInputs::new(&dir);
        Some((dir, inputs))
    }

    /// `pretrain` into `out` for `steps` steps of 8 x 32, logging every step, saving and evaluating every
    /// `save_every`.
    fn command(&self, out: &Path, steps: usize, save_every: usize) -> Command {
        self.command_sized(out, steps, save_every, &self.config, 8, 32)
    }

    /// [`Self::command`] for a million steps (a run that ends only when stopped), started in the
    /// background with its standard output discarded.
    fn spawn_endless(&self, out: &Path, save_every: usize, stderr: Stdio) -> Child {
        let mut cmd = self.command(out, 1_000_000, save_every);
        cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap()
    }

    /// [`Self::command`] with another config and batch shape.
    fn command_sized(
        &self,
        out: &Path,
        steps: usize,
        save_every: usize,
        config: &Path,
        batch: usize,
        seq: usize,
    ) -> Command {
        let mut cmd = bin();
        cmd.args(["pretrain", "--corpus"])
            .arg(&self.corpus)
            .arg("--config")
            .arg(config)
            .arg("--tokenizer")
            .arg(&self.vocab)
            .arg("--out")
            .arg(out);
        let (steps, every) = (steps.to_string(), save_every.to_string());
        let (batch, seq) = (batch.to_string(), seq.to_string());
        cmd.args([
            "--steps",
            &steps,
            "--batch-size",
            &batch,
            "--seq-len",
            &seq,
            "--max-predictions",
            "5",
        ]);
        cmd.args(["--lr", "3e-3", "--warmup", "4", "--log-every", "1"]);
        cmd.args(["--save-every", &every, "--eval-every", &every]);
        cmd
    }
}

#[test]
fn pretraining_lowers_the_loss_and_resumes_exactly() {
    let Some((dir, inputs)) = PretrainInputs::in_scratch("pretrain") else {
        return;
    };
    let pretrain = |out: &Path, extra: &[&str]| {
        let mut cmd = inputs.command(out, 40, 20);
        cmd.args(["--holdout-every", "10"]).args(extra);
        run(&mut cmd)
    };
    let full = dir.join("full");
    let (code, _, err) = pretrain(&full, &[]);
    assert_eq!(code, 0, "{err}");
    let m = metrics(&full);
    assert_eq!(m.len(), 40);
    let mean = |r: &[serde_json::Value]| r.iter().map(|v| v["loss"].as_f64().unwrap()).sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&m[..5]), mean(&m[35..]));
    assert!(last < 0.95 * first, "loss did not go down: {first} -> {last}");
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "loss.svg",
        "checkpoint-40/optimizer.safetensors",
    ] {
        assert!(full.join(f).exists(), "{f} missing");
    }
    // The directory is a model: fill-mask runs on it.
    let (code, _, err) = run(bin()
        .args(["fill-mask", "--model"])
        .arg(&full)
        .arg("the king [MASK] the house ."));
    assert_eq!(code, 0, "{err}");

    // An output directory that exists is refused.
    assert_clear_error(pretrain(&full, &[]), &["--overwrite", "--resume"]);

    // Resume from checkpoint-20: the same losses as the uninterrupted run, step for step.
    let resumed = dir.join("resumed");
    std::fs::create_dir_all(&resumed).unwrap();
    copy_checkpoints(&full, &resumed, &[20]);
    let head: Vec<String> = std::fs::read_to_string(full.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .take(20)
        .map(String::from)
        .collect();
    std::fs::write(resumed.join("metrics.jsonl"), head.join("\n") + "\n").unwrap();
    let (code, _, err) = pretrain(&resumed, &["--resume"]);
    assert_eq!(code, 0, "{err}");
    let r = metrics(&resumed);
    assert_eq!(r.len(), 40);
    for step in 20..40 {
        assert_eq!(r[step]["step"], m[step]["step"]);
        assert_eq!(
            r[step]["loss"],
            m[step]["loss"],
            "step {}: resumed loss differs",
            step + 1
        );
    }

    // A checkpoint whose step counter lies far beyond the schedule is refused, by name.
    let beyond = dir.join("beyond");
    copy_checkpoints(&full, &beyond, &[20]);
    let state_file = beyond.join("checkpoint-20/trainer_state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    state["step"] = 999_999.into();
    std::fs::write(&state_file, state.to_string()).unwrap();
    assert_clear_error(pretrain(&beyond, &["--resume"]), &["trainer_state.json", "999999"]);
}

/// SIGTERM (what a job scheduler sends), SIGHUP (a closed terminal) and SIGINT (Ctrl-C) each stop a
/// pretraining run the same way: a complete checkpoint, a message that says how to resume, a non-zero exit.
#[test]
fn termination_signals_save_a_checkpoint_as_ctrl_c_does() {
    let Some((dir, inputs)) = PretrainInputs::in_scratch("signals") else {
        return;
    };
    for signal in ["TERM", "HUP", "INT"] {
        let out = dir.join(signal);
        let child = inputs.spawn_endless(&out, 1_000_000, Stdio::piped());
        // Wait until a few steps are logged: the run is in its training loop.
        wait_for_steps(&out, 3);
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(0), "SIG{signal}: {err}");
        assert!(
            output.status.code().is_some(),
            "SIG{signal} killed the run instead of stopping it: {err}"
        );
        assert!(
            err.contains("interrupted at step") && err.contains("--resume"),
            "SIG{signal}: {err}"
        );
        assert!(!err.contains("panicked"), "SIG{signal}: {err}");
        common::assert_complete_checkpoints(&out);
    }
}

/// `bert-wgpu <args[0]>`, then `--model` the tiny fixture model and the rest of `args` when there are more.
fn on_tiny_bert(args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.arg(args[0]);
    if args.len() > 1 {
        cmd.arg("--model").arg(fixture("tiny-bert")).args(&args[1..]);
    }
    cmd
}

/// Output to a pipe that was closed (`bert-wgpu ... | head -1` after head has exited) ends the program
/// quietly by SIGPIPE, as other command-line tools end, never with a panic.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let Some(_) = common::gpu() else { return };
    for args in [&["info"][..], &["fill-mask", "--top-k", "5", "the [MASK] ."]] {
        let mut child = on_tiny_bert(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?} {err}",
            output.status
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn pretraining_input_errors() {
    let Some(_) = common::gpu() else { return };
    let dir = scratch("pretrain-errors");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let one = dir.join("one.txt");
    std::fs::write(&one, "just one sentence here .\n").unwrap();
    let vocab = fixture("tiny-bert");
    // Two steps of the built-in tiny config on `corpus` into `out`, with `flags`.
    let pretrain = |corpus: &Path, out: &Path, flags: &[&str]| {
        run(bin()
            .args(["pretrain", "--config", "tiny", "--steps", "2", "--corpus"])
            .arg(corpus)
            .arg("--tokenizer")
            .arg(&vocab)
            .arg("--out")
            .arg(out)
            .args(flags))
    };
    assert_clear_error(
        pretrain(&dir.join("missing.txt"), &dir.join("a"), &[]),
        &["missing.txt"],
    );
    assert_clear_error(pretrain(&empty, &dir.join("b"), &[]), &["empty.txt"]);
    assert_clear_error(pretrain(&one, &dir.join("c"), &[]), &["single sentence"]);
    // A run that fails before its first checkpoint leaves nothing that blocks running it again.
    for out in ["a", "b", "c"] {
        assert!(!dir.join(out).exists(), "a failed run left {out}/ behind");
    }

    // Options out of their domain: named, refused before the output directory is created.
    let corpus = write_corpus(&dir);
    let cases: &[(&[&str], &str)] = &[
        (&["--lr=-1e-3"], "--lr"),
        (&["--lr", "0"], "--lr"),
        (&["--lr", "NaN"], "--lr"),
        (&["--lr", "inf"], "--lr"),
        (&["--weight-decay=-0.1"], "--weight-decay"),
        (&["--weight-decay", "nan"], "--weight-decay"),
        (&["--seq-len", "32", "--max-predictions", "33"], "--max-predictions"),
        // Activations beyond the adapter's buffer limits: predicted before allocation, with what to lower.
        (
            &["--batch-size", "4000000", "--seq-len", "512", "--max-predictions", "20"],
            "lower --batch-size or --seq-len",
        ),
        (
            &["--batch-size", "60000000", "--seq-len", "8", "--max-predictions", "2"],
            "lower --batch-size or --seq-len",
        ),
    ];
    for (i, (flags, named)) in cases.iter().enumerate() {
        let out = dir.join(format!("domain-{i}"));
        assert_clear_error(pretrain(&corpus, &out, flags), &[named]);
        assert!(!out.exists(), "{flags:?}: the output directory was created");
    }
    // With --overwrite, a run refused before training leaves the old content in place.
    let out = dir.join("overwritten");
    std::fs::create_dir_all(out.join("checkpoint-7")).unwrap();
    std::fs::write(out.join("metrics.jsonl"), "{}\n").unwrap();
    for flags in [
        &["--lr", "0"][..],
        &["--batch-size", "60000000", "--seq-len", "8", "--max-predictions", "2"],
    ] {
        let overwrite: Vec<&str> = ["--overwrite"].iter().chain(flags).copied().collect();
        assert_clear_error(pretrain(&corpus, &out, &overwrite), &[flags[0]]);
        assert!(
            out.join("checkpoint-7").exists() && out.join("metrics.jsonl").exists(),
            "{flags:?}"
        );
    }
}

#[test]
fn no_usable_adapter_is_a_clear_error() {
    // Point the Vulkan loader at no driver and allow no other backend.
    let out = bin()
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .env("WGPU_BACKEND", "vulkan")
        .arg("info")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("no usable GPU adapter"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_checkpoint() {
    let Some(_) = common::gpu() else { return };
    let dir = scratch("diverge");
    let corpus = write_corpus(&dir);
    let out = dir.join("out");
    let mut cmd = bin();
    cmd.args([
        "pretrain",
        "--config",
        "tiny",
        "--steps",
        "30",
        "--batch-size",
        "4",
        "--seq-len",
        "32",
    ]);
    cmd.args([
        "--max-predictions",
        "5",
        "--save-every",
        "1",
        "--lr",
        "1e30",
        "--warmup",
        "2",
        "--corpus",
    ])
    .arg(&corpus);
    cmd.arg("--tokenizer").arg(fixture("tiny-bert")).arg("--out").arg(&out);
    let (code, _, err) = run(&mut cmd);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("diverged") && err.contains("checkpoint"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The checkpoints that exist are complete model directories.
    common::assert_complete_checkpoints(&out);
}

/// `--kernels auto` tunes once per adapter into the cache directory; a second run reads the cache and gives
/// the same output as a forced kernel. Unknown kernel names are a clear error.
#[test]
fn auto_kernels_tune_once_cache_the_choice_and_agree_with_forced_ones() {
    let Some(_) = common::gpu() else { return };
    let cache = scratch("kernel-cache");
    let embed = |kernels: &str| {
        run(bin()
            .env("BERT_WGPU_CACHE_DIR", &cache)
            .args(["--kernels", kernels, "embed", "--json", "--model"])
            .arg(fixture("tiny-bert"))
            .args(["the king .", "a queen"]))
    };
    let parse = |(code, out, err): (i32, String, String)| {
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Vec<Vec<f32>>>(&out).unwrap().concat()
    };
    let auto = parse(embed("auto"));
    let file = cache.join("matmul-tuning.json");
    let cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let (key, choices) = cached.as_object().unwrap().iter().next().unwrap();
    assert!(key.contains("bert-wgpu") && key.contains("kernels"), "{key}");
    assert!(!choices.as_object().unwrap().is_empty());
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let again = parse(embed("auto"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified,
        "the second run tuned again"
    );
    assert_eq!(auto, again);
    let portable = parse(embed("portable"));
    common::assert_close("auto vs portable", &auto, &portable, 1e-5);
    assert_clear_error(embed("fastest"), &["unknown kernels `fastest`", "portable"]);
}

/// Replaces `file` with `bytes`, or removes it when `bytes` is `None`.
fn damage(file: &Path, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => std::fs::write(file, b).unwrap(),
        None => std::fs::remove_file(file).unwrap(),
    }
}

/// Copies `checkpoint-<step>` of `from` into `to` for each of `steps`.
fn copy_checkpoints(from: &Path, to: &Path, steps: &[usize]) {
    for step in steps {
        let name = format!("checkpoint-{step}");
        copy_dir(&from.join(&name), &to.join(&name));
    }
}

/// Waits until `out/metrics.jsonl` holds `lines` lines (a run that far into its training loop).
fn wait_for_steps(out: &Path, lines: usize) {
    let started = std::time::Instant::now();
    while std::fs::read_to_string(out.join("metrics.jsonl")).map_or(0, |t| t.lines().count()) < lines {
        assert!(
            started.elapsed().as_secs() < 300,
            "no training step logged in {}",
            out.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A run holds a lock on its output directory: a second run on it (to resume, to overwrite, or fine-tuning
/// into it) is refused and changes nothing. The lock of a killed run is taken over by the next run.
#[test]
fn a_second_run_on_a_directory_in_use_is_refused() {
    let Some((dir, inputs)) = PretrainInputs::in_scratch("lock") else {
        return;
    };
    let out = dir.join("out");
    let mut first = inputs.spawn_endless(&out, 3, Stdio::null());
    wait_for_steps(&out, 4);
    for extra in [&["--resume"][..], &["--overwrite"], &[]] {
        let mut second = inputs.command(&out, 8, 4);
        second.args(extra);
        assert_clear_error(run(&mut second), &["in use by another run", &first.id().to_string()]);
    }
    let finetune = run(bin()
        .args(["finetune", "--task", "pair-cls", "--model"])
        .arg(fixture("tiny-bert"))
        .arg("--train")
        .arg(fixture("finetune/pair-train.tsv"))
        .arg("--out")
        .arg(&out)
        .arg("--resume"));
    assert_clear_error(finetune, &["in use by another run"]);
    // An overwrite would have removed the log (the running run appends to its own open file).
    let log = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let first_step: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(first_step["step"], 1, "a refused run changed {}", out.display());

    // SIGKILL leaves the lock file; the operating system released the lock, and --resume takes it over.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(out.join(".bert-wgpu.lock").exists());
    let latest = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("checkpoint-")?
                .parse::<usize>()
                .ok()
        })
        .max()
        .unwrap();
    let mut resume = inputs.command(&out, latest + 2, 1_000_000);
    resume.arg("--resume");
    let (code, _, err) = run(&mut resume);
    assert_eq!(code, 0, "{err}");
    assert!(!out.join(".bert-wgpu.lock").exists(), "the lock file outlived its run");
}

/// `--resume` passes over a newest checkpoint that does not read back (each file of it damaged in turn),
/// says so, and continues from the older intact one; with none intact it names the fault.
#[test]
fn resume_passes_over_a_damaged_checkpoint() {
    let Some((dir, inputs)) = PretrainInputs::in_scratch("damaged") else {
        return;
    };
    let full = dir.join("full");
    let (code, _, err) = run(&mut inputs.command(&full, 10, 5));
    assert_eq!(code, 0, "{err}");
    let damages: &[(&str, Option<&[u8]>)] = &[
        ("optimizer.safetensors", Some(b"\x10\0\0\0\0\0\0\0{\"m.x\": 1}      ")),
        ("optimizer.safetensors", None),
        ("model.safetensors", Some(b"")),
        ("config.json", Some(b"{\"hidden_size\": ")),
        ("trainer_state.json", Some(b"{}")),
    ];
    for (i, (file, bytes)) in damages.iter().enumerate() {
        let out = dir.join(format!("resume-{i}"));
        copy_checkpoints(&full, &out, &[5, 10]);
        // The first 10 lines stand in for the log of the run that wrote the checkpoints.
        std::fs::copy(full.join("metrics.jsonl"), out.join("metrics.jsonl")).unwrap();
        // What a kill while pruning leaves: a newer checkpoint renamed out of the way, half deleted. It is
        // never resumed from, and the run removes it.
        let pruned = out.join(".checkpoint-11.old");
        copy_dir(&full.join("checkpoint-10"), &pruned);
        std::fs::remove_file(pruned.join("optimizer.safetensors")).unwrap();
        damage(&out.join("checkpoint-10").join(file), *bytes);
        let mut resume = inputs.command(&out, 12, 1_000_000);
        resume.arg("--resume");
        let (code, _, err) = run(&mut resume);
        assert_eq!(code, 0, "{file}: {err}");
        let warning = err.lines().find(|l| l.starts_with("warning:")).unwrap_or_default();
        for needle in ["checkpoint-10", file, "checkpoint-5"] {
            assert!(
                warning.contains(needle),
                "{file}: warning {warning:?} does not name {needle}"
            );
        }
        assert!(!pruned.exists(), "{file}: the half-deleted checkpoint was left");
        let steps: Vec<u64> = metrics(&out).iter().map(|v| v["step"].as_u64().unwrap()).collect();
        assert_eq!(
            steps,
            (1..=12).collect::<Vec<_>>(),
            "{file}: the log does not continue from step 5"
        );

        // With the older one damaged too, nothing is resumed: the error names the newest's fault, a warning
        // the older one's, and both stay as they were.
        let out = dir.join(format!("none-{i}"));
        copy_checkpoints(&full, &out, &[5, 10]);
        for step in [5, 10] {
            damage(&out.join(format!("checkpoint-{step}")).join(file), *bytes);
        }
        let mut resume = inputs.command(&out, 12, 1_000_000);
        resume.arg("--resume");
        let result = run(&mut resume);
        let warning = result
            .2
            .lines()
            .find(|l| l.starts_with("warning:"))
            .unwrap_or_default()
            .to_string();
        assert!(
            warning.contains("checkpoint-5") && warning.contains(file),
            "{file}: {warning:?}"
        );
        assert_clear_error(result, &["no intact checkpoint", "checkpoint-10", file]);
        let damaged = out.join("checkpoint-10").join(file);
        assert!(
            damaged.exists() == bytes.is_some(),
            "{file}: the damaged checkpoint was changed"
        );
    }
}

/// A full device: results written to /dev/full end with one line naming standard output; a checkpoint
/// that cannot be written (a file size limit stands in for a full disk) ends the run with the file named,
/// the checkpoints before it intact and no temporary directory left.
#[cfg(target_os = "linux")]
#[test]
fn a_full_device_is_a_clear_error() {
    use std::os::unix::process::CommandExt;
    let Some(_) = common::gpu() else { return };
    let commands: [&[&str]; 5] = [
        &["info"],
        &["fill-mask", "the [MASK] ."],
        &["fill-mask", "--json", "the [MASK] ."],
        &["embed", "--similarity", "the king .", "a queen ."],
        &["embed", "--json", "the king ."],
    ];
    for args in commands {
        let full = std::fs::File::create("/dev/full").unwrap();
        let output = on_tiny_bert(args).stdout(full).output().unwrap();
        let result = (
            output.status.code().unwrap_or(-1),
            String::new(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        assert_clear_error(result, &["standard output", "No space left on device"]);
    }

    let dir = scratch("full-device");
    let inputs = PretrainInputs::new(&dir);
    let out = dir.join("out");
    // A first run saves checkpoint-3; the resumed run's next checkpoint meets the full device.
    let (code, _, err) = run(&mut inputs.command(&out, 3, 3));
    assert_eq!(code, 0, "{err}");
    // Small files (the log, the curve) fit; a model.safetensors of this size does not.
    let weights = std::fs::metadata(out.join("model.safetensors")).unwrap().len();
    let mut cmd = inputs.command(&out, 1_000_000, 3);
    cmd.arg("--resume");
    // SAFETY: setrlimit and signal are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: weights / 2,
                rlim_max: weights / 2,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN); // a failed write, not a killed process
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert_clear_error(run(&mut cmd), &["model.safetensors", "File too large"]);
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains("tmp") || f.starts_with("checkpoint-"))
        .collect();
    assert_eq!(left, ["checkpoint-3"], "a failed checkpoint left something behind");
    common::assert_complete_checkpoints(&out);
}

/// A run whose model, optimizer state and training workspace exceed the memory the adapter has is refused
/// before training, once, with what to lower, and leaves no output directory: under a cap given by
/// BERT_WGPU_MAX_MEMORY, and on a CPU adapter (lavapipe) against the host's available memory.
#[test]
fn out_of_memory_is_predicted_before_training() {
    let Some((dir, inputs)) = PretrainInputs::in_scratch("memory") else {
        return;
    };
    let needs = |(code, out, err): (i32, String, String)| -> f64 {
        assert_clear_error(
            (code, out, err.clone()),
            &["out of memory", "lower --batch-size or --seq-len"],
        );
        assert_eq!(
            err.matches("out of memory").count(),
            1,
            "reported more than once: {err}"
        );
        let need: Vec<&str> = err.split(" need ").nth(1).unwrap().split_whitespace().take(2).collect();
        let scale = if need[1].starts_with("GiB") { 1024.0 } else { 1.0 };
        need[0].parse::<f64>().unwrap() * scale / 1024.0
    };
    for (cap, batch) in [("1MiB", 8), ("4MiB", 64), ("0.5GiB", 4096)] {
        let out = dir.join(format!("cap-{cap}"));
        let mut cmd = inputs.command_sized(&out, 10, 5, &inputs.config, batch, 32);
        cmd.env("BERT_WGPU_MAX_MEMORY", cap);
        let gib = needs(run(&mut cmd));
        assert!(gib > 0.0, "{cap}");
        assert!(!out.exists(), "{cap}: a refused run left its output directory");
    }
    let (code, _, err) = run(inputs
        .command(&dir.join("bad-cap"), 10, 5)
        .env("BERT_WGPU_MAX_MEMORY", "lots"));
    assert_clear_error((code, String::new(), err), &["BERT_WGPU_MAX_MEMORY", "lots"]);

    // The host's memory on a CPU adapter: the need of one and of two layers gives the need per layer, then
    // a model twice the size of the available memory is refused without touching it.
    let info = run(bin().arg("info")).1;
    if !info.contains("device type:  Cpu") || !cfg!(target_os = "linux") {
        eprintln!("not a CPU adapter on Linux: the host-memory case does not apply\n{info}");
        return;
    }
    let adapter = info
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("adapter:")
        .trim()
        .to_string();
    let available = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap()
        / (1u64 << 20) as f64;
    let deep = |layers: usize, cap: Option<&str>| {
        let config = dir.join(format!("deep-{layers}.json"));
        let c = serde_json::json!({"vocab_size": 1, "hidden_size": 128, "num_hidden_layers": layers,
            "num_attention_heads": 2, "intermediate_size": 256, "max_position_embeddings": 128});
        std::fs::write(&config, c.to_string()).unwrap();
        let out = dir.join(format!("deep-{layers}"));
        let mut cmd = inputs.command_sized(&out, 10, 5, &config, 512, 128);
        if let Some(cap) = cap {
            cmd.env("BERT_WGPU_MAX_MEMORY", cap);
        }
        (run(&mut cmd), out)
    };
    let one = needs(deep(1, Some("1MiB")).0);
    let per_layer = needs(deep(2, Some("1MiB")).0) - one;
    let layers = ((2.0 * available - one) / per_layer).ceil() as usize + 2;
    if layers > 3000 {
        eprintln!("{available:.1} GiB available: a model past it would be too slow to build here");
        return;
    }
    let (result, out) = deep(layers, None);
    let err = result.2.clone();
    let gib = needs(result);
    assert!(
        gib > available,
        "{layers} layers need {gib} GiB; {available} GiB available"
    );
    assert!(err.contains(&format!("available to {adapter}")), "{err}");
    assert!(!out.exists());
}
