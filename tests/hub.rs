//! Models by hub id through the Hugging Face cache: `tests/fixtures/hub-cache` was written by the real
//! `huggingface_hub` package (scripts/make_hub_fixtures.py) and is read here offline.

mod common;

use std::path::Path;
use std::process::Command;

use common::{assert_clear_error, bin, fixture, run, scratch};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const TEXT: &str = "the king [MASK] to paris .";

/// The CLI with `cache` as the only place it may find hub models, and no network.
fn with_cache(cache: &Path) -> Command {
    let mut cmd = bin();
    cmd.env("HF_HUB_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HOME");
    cmd
}

fn fill_mask(mut cmd: Command, model: &str, extra: &[&str]) -> (i32, String, String) {
    run(cmd
        .args(["fill-mask", "--json", "--model", model])
        .args(extra)
        .arg(TEXT))
}

fn ok((code, out, err): (i32, String, String)) -> String {
    assert_eq!(code, 0, "command failed: {err}");
    out
}

#[test]
fn a_model_from_the_cache_is_the_model_of_its_directory() {
    if common::gpu().is_none() {
        return;
    }
    let cache = fixture("hub-cache");
    let dir = fixture("tiny-bert");
    let want = ok(fill_mask(bin(), dir.to_str().unwrap(), &[]));
    let id = "bert-wgpu-tests/tiny-bert";
    assert_eq!(ok(fill_mask(with_cache(&cache), id, &[])), want, "main");
    assert_eq!(
        ok(fill_mask(with_cache(&cache), id, &["--revision", "v1"])),
        want,
        "tag v1"
    );
    assert_eq!(
        ok(fill_mask(with_cache(&cache), id, &["--revision", COMMIT])),
        want,
        "commit hash"
    );
    // Sharded weights (an index and two shards) with a vocab.txt-only tokenizer.
    assert_eq!(
        ok(fill_mask(with_cache(&cache), "tiny-bert-sharded", &[])),
        want,
        "sharded"
    );

    // $HF_HOME/hub when HF_HUB_CACHE is not set.
    let home = scratch("hf-home");
    std::os::unix::fs::symlink(&cache, home.join("hub")).unwrap();
    let mut cmd = bin();
    cmd.env_remove("HF_HUB_CACHE")
        .env("HF_HOME", &home)
        .env("HF_HUB_OFFLINE", "1");
    assert_eq!(ok(fill_mask(cmd, id, &[])), want, "HF_HOME");
}

#[test]
fn what_the_cache_lacks_is_one_clear_error() {
    let cache = fixture("hub-cache");
    let cached = || with_cache(&cache);
    assert_clear_error(
        fill_mask(cached(), "bert-wgpu-tests/no-such-model", &[]),
        &[
            "bert-wgpu-tests/no-such-model",
            "not found",
            "hub-cache",
            "HF_HUB_OFFLINE",
        ],
    );
    assert_clear_error(
        fill_mask(cached(), "bert-wgpu-tests/tiny-bert", &["--revision", "v9"]),
        &["revision \"v9\" not found"],
    );
    let other_commit = "fedcba9876543210fedcba9876543210fedcba98";
    assert_clear_error(
        fill_mask(cached(), "bert-wgpu-tests/tiny-bert", &["--revision", other_commit]),
        &[other_commit, "no snapshot"],
    );
    assert_clear_error(
        fill_mask(cached(), "bert-wgpu-tests/tiny-bert", &["--revision", "../../x"]),
        &["not a revision"],
    );
    assert_clear_error(
        fill_mask(cached(), "bert-wgpu-tests/gone", &[]),
        &["model.safetensors", "broken link", "download the model again"],
    );
    assert_clear_error(
        fill_mask(cached(), "no--such", &[]),
        &["no--such", "not a model directory"],
    );
    assert_clear_error(
        fill_mask(cached(), "./not-here", &[]),
        &["./not-here", "not a model directory"],
    );
}

#[test]
fn a_truncated_blob_is_named() {
    // A copy of one repository whose weights blob lost its second half.
    let cache = scratch("truncated-cache");
    let repo = "models--bert-wgpu-tests--tiny-bert";
    copy_tree(&fixture("hub-cache").join(repo), &cache.join(repo));
    let link = cache
        .join(repo)
        .join("snapshots")
        .join(COMMIT)
        .join("model.safetensors");
    let blob = link.parent().unwrap().join(std::fs::read_link(&link).unwrap());
    let bytes = std::fs::read(&blob).unwrap();
    std::fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    assert_clear_error(
        fill_mask(with_cache(&cache), "bert-wgpu-tests/tiny-bert", &[]),
        &["bert-wgpu-tests/tiny-bert", "model.safetensors", "truncated"],
    );
}

/// Copies a directory, links kept as links.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let e = entry.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
