//! Downloading models into the Hugging Face cache from a hub stand-in on 127.0.0.1
//! (scripts/hub_standin.py: the resolve layout, `X-Repo-Commit`, `ETag`, redirects of large files to another
//! host, 404 / 401 / 403, a connection dropped mid-file), and the cache bert-wgpu writes read by the real
//! `huggingface_hub`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_clear_error, bin, fixture, run, scratch};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const TOKEN: &str = "hf_standin_token";

/// The stand-in hub, stopped when dropped (its standard input closes).
struct StandIn {
    child: Child,
    endpoint: String,
}

impl StandIn {
    fn start() -> StandIn {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hub_standin.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the hub stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("http://127.0.0.1:"), "stand-in said {line:?}");
        StandIn {
            child,
            endpoint: line.trim().to_string(),
        }
    }

    /// The requests so far: (method, path, Range header).
    fn log(&self) -> Vec<(String, String, Option<String>)> {
        let (code, out, err) = run(Command::new("python3").args([
            "-c",
            "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
            &format!("{}/_log", self.endpoint),
        ]));
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    }

    /// The CLI with `cache` as its Hugging Face cache and this stand-in as the hub.
    fn cli(&self, cache: &Path) -> Command {
        let mut cmd = bin();
        cmd.env("HF_HUB_CACHE", cache)
            .env("HF_ENDPOINT", &self.endpoint)
            .env("HF_HOME", cache.join("no-home"))
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_TOKEN")
            .env_remove("HF_TOKEN_PATH");
        cmd
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn download(mut cmd: Command, id: &str) -> (i32, String, String) {
    run(cmd.args(["download", id]))
}

fn repo_dir(cache: &Path, id: &str) -> PathBuf {
    cache.join(format!("models--{}", id.replace('/', "--")))
}

/// Every file of the snapshot is a relative link into `blobs/` whose bytes are the fixture's; no
/// `.incomplete` file is left.
fn assert_hub_layout(cache: &Path, id: &str) {
    let repo = repo_dir(cache, id);
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), COMMIT);
    let snapshot = repo.join("snapshots").join(COMMIT);
    let source = fixture("tiny-bert");
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name();
        let link = snapshot.join(&name);
        let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
        assert!(target.starts_with("../../blobs/"), "{}", target.display());
        assert_eq!(
            std::fs::read(&link).unwrap(),
            std::fs::read(source.join(&name)).unwrap(),
            "{name:?}"
        );
    }
    for blob in std::fs::read_dir(repo.join("blobs")).unwrap() {
        let name = blob.unwrap().file_name();
        assert!(!name.to_string_lossy().ends_with(".incomplete"), "{name:?} left behind");
    }
}

#[test]
fn a_model_downloads_into_the_cache_in_the_hub_layout_and_runs_from_it() {
    let hub = StandIn::start();
    let cache = scratch("download-cache");
    let id = "bert-wgpu-tests/tiny-bert";
    let (code, out, err) = download(hub.cli(&cache), id);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        Path::new(out.trim()),
        repo_dir(&cache, id).join("snapshots").join(COMMIT)
    );
    assert_hub_layout(&cache, id);
    // Large files came through the redirect to the other host, small ones from the resolve URL.
    let log = hub.log();
    assert!(log.iter().any(|(m, p, _)| m == "GET" && p.starts_with("/cdn/")));

    // A second use finds the whole model in the cache and asks the hub nothing.
    let (code, _, err) = download(hub.cli(&cache), id);
    assert_eq!(code, 0, "{err}");
    let again = hub.log();
    // Only the second look at the log itself is new.
    assert_eq!(
        &again[log.len()..],
        &[("GET".into(), "/_log".into(), None)],
        "the cached model was asked for again"
    );

    // Sharded weights: the index, then the shards it names; the files the repository lacks are marked as
    // absent, as huggingface_hub marks them.
    let sharded = "tiny-bert-sharded";
    let (code, out, err) = download(hub.cli(&cache), sharded);
    assert_eq!(code, 0, "{err}");
    let snapshot = PathBuf::from(out.trim());
    for name in [
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "vocab.txt",
    ] {
        assert!(snapshot.join(name).is_file(), "{name} missing");
    }
    let no_exist = repo_dir(&cache, sharded)
        .join(".no_exist")
        .join(snapshot.file_name().unwrap());
    for name in ["model.safetensors", "tokenizer.json", "special_tokens_map.json"] {
        assert!(no_exist.join(name).is_file(), "{name} not marked as absent");
    }

    // The downloaded models predict as their directory does.
    if common::gpu().is_some() {
        let fill = |mut cmd: Command, model: &Path| {
            let (code, out, err) = run(cmd
                .args(["fill-mask", "--json", "--model"])
                .arg(model)
                .arg("the king [MASK] to paris ."));
            assert_eq!(code, 0, "{err}");
            out
        };
        let offline = || {
            let mut cmd = hub.cli(&cache);
            cmd.env("HF_HUB_OFFLINE", "1");
            cmd
        };
        let want = fill(bin(), &fixture("tiny-bert"));
        assert_eq!(fill(offline(), Path::new(id)), want);
        assert_eq!(fill(offline(), Path::new(sharded)), want, "sharded");
    }
}

#[test]
fn a_dropped_connection_resumes_where_it_stopped() {
    let hub = StandIn::start();
    let cache = scratch("download-resume");
    let (code, _, err) = download(hub.cli(&cache), "bert-wgpu-tests/flaky");
    assert_eq!(code, 0, "{err}");
    let log = hub.log();
    let weights: Vec<_> = log.iter().filter(|(_, p, _)| p.starts_with("/cdn/")).collect();
    assert_eq!(weights.len(), 2, "{weights:?}");
    let resumed_from = weights[1].2.as_deref().expect("the second request asks for the rest");
    let half = std::fs::metadata(fixture("tiny-bert/model.safetensors")).unwrap().len() / 2;
    assert_eq!(resumed_from, format!("bytes={half}-"));
    let repo = repo_dir(&cache, "bert-wgpu-tests/flaky");
    assert_eq!(
        std::fs::read(repo.join("snapshots").join(COMMIT).join("model.safetensors")).unwrap(),
        std::fs::read(fixture("tiny-bert/model.safetensors")).unwrap()
    );
}

#[test]
fn what_the_hub_refuses_is_one_clear_error_and_leaves_no_file() {
    let hub = StandIn::start();
    let cache = scratch("download-errors");
    assert_clear_error(
        download(hub.cli(&cache), "bert-wgpu-tests/no-such-model"),
        &["bert-wgpu-tests/no-such-model", "not found", "HF_TOKEN"],
    );
    assert_clear_error(
        run(hub
            .cli(&cache)
            .args(["download", "bert-wgpu-tests/tiny-bert", "--revision", "v9"])),
        &["no revision \"v9\""],
    );
    assert_clear_error(
        download(hub.cli(&cache), "bert-wgpu-tests/private"),
        &["bert-wgpu-tests/private", "not found", "HF_TOKEN", "hf auth login"],
    );
    assert_clear_error(
        download(hub.cli(&cache), "bert-wgpu-tests/gated"),
        &["gated", "accept its conditions"],
    );
    assert_clear_error(
        download(hub.cli(&cache), "bert-wgpu-tests/pytorch-only"),
        &["pytorch_model.bin", "safetensors", "save_pretrained"],
    );
    let mut unreachable = hub.cli(&cache);
    unreachable.env("HF_ENDPOINT", "http://127.0.0.1:9");
    assert_clear_error(
        download(unreachable, "bert-wgpu-tests/tiny-bert"),
        &["cannot reach http://127.0.0.1:9", "HF_HUB_OFFLINE=1"],
    );
    let mut offline = hub.cli(&cache);
    offline.env("HF_HUB_OFFLINE", "1");
    assert_clear_error(
        download(offline, "bert-wgpu-tests/tiny-bert"),
        &["HF_HUB_OFFLINE is set"],
    );
    // None of these wrote a blob or a snapshot.
    for entry in walk(&cache) {
        let name = entry.to_string_lossy().to_string();
        assert!(
            !name.contains("/blobs/") && !name.contains("/snapshots/"),
            "{name} written"
        );
    }

    // The private repository with a token, from HF_TOKEN and from the token file.
    let mut with_token = hub.cli(&cache);
    with_token.env("HF_TOKEN", TOKEN);
    let (code, _, err) = download(with_token, "bert-wgpu-tests/private");
    assert_eq!(code, 0, "{err}");
    let home = cache.join("no-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("token"), format!("{TOKEN}\n")).unwrap();
    let other_cache = scratch("download-token-file");
    let mut with_file = hub.cli(&other_cache);
    with_file.env("HF_HOME", &home);
    let (code, _, err) = download(with_file, "bert-wgpu-tests/private");
    assert_eq!(code, 0, "{err}");
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            all.extend(walk(&path));
        }
        all.push(path);
    }
    all
}

/// A Python with `huggingface_hub`: `$BERT_WGPU_HF_PYTHON` (set by .ci/run), else `python3` if
/// it has the package; `None` with a printed reason outside CI, a failure under `CI=true`.
fn python_with_huggingface_hub() -> Option<String> {
    let candidates = std::env::var("BERT_WGPU_HF_PYTHON")
        .into_iter()
        .chain(["python3".to_string()]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import huggingface_hub"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    common::skip("no Python with huggingface_hub (set BERT_WGPU_HF_PYTHON)")
}

#[test]
fn a_cache_written_by_bert_wgpu_is_read_by_huggingface_hub_offline() {
    let Some(python) = python_with_huggingface_hub() else {
        return;
    };
    let hub = StandIn::start();
    let cache = scratch("download-for-python");
    let id = "bert-wgpu-tests/tiny-bert";
    let (code, _, err) = download(hub.cli(&cache), id);
    assert_eq!(code, 0, "{err}");
    drop(hub);
    // scan_cache_dir checks the layout (it reports a corrupted cache as warnings); hf_hub_download with
    // HF_HUB_OFFLINE=1 resolves refs/main and the snapshot links.
    let script = r#"
import json, sys
from huggingface_hub import hf_hub_download, scan_cache_dir
cache, repo_id = sys.argv[1], sys.argv[2]
info = scan_cache_dir(cache)
repos = {r.repo_id: [{"commit": v.commit_hash, "refs": sorted(v.refs), "files": sorted(f.file_name for f in v.files)}
                     for v in r.revisions] for r in info.repos}
paths = {name: hf_hub_download(repo_id, name, cache_dir=cache) for name in sys.argv[3:]}
print(json.dumps({"warnings": [str(w) for w in info.warnings], "repos": repos, "paths": paths}))
"#;
    let mut names: Vec<String> = std::fs::read_dir(fixture("tiny-bert"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let (code, out, err) = run(Command::new(&python)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .args(["-c", script])
        .arg(&cache)
        .arg(id)
        .args(&names));
    assert_eq!(code, 0, "huggingface_hub failed: {err}");
    let seen: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seen["warnings"], serde_json::json!([]), "{out}");
    let revision = &seen["repos"][id][0];
    assert_eq!(revision["commit"], COMMIT);
    assert_eq!(revision["refs"], serde_json::json!(["main"]));
    assert_eq!(revision["files"], serde_json::json!(names));
    for name in &names {
        let path = seen["paths"][name].as_str().unwrap();
        assert_eq!(
            std::fs::read(path).unwrap(),
            std::fs::read(fixture("tiny-bert").join(name)).unwrap(),
            "{name}"
        );
    }
}
