//! Models by Hugging Face hub id (`bert-base-uncased`, `google/bert_uncased_L-2_H-128_A-2`): the rules of
//! an id, and the cache layout that transformers and `huggingface_hub` share. Pure: the CLI reads the cache
//! from disk.
//!
//! The cache: `{cache}/models--{org}--{name}/refs/{revision}` holds the commit a branch or tag points at,
//! `snapshots/{commit}/{file}` the files of that commit (links into `blobs/`), `.no_exist/{commit}/{file}`
//! marks a file the hub does not have.

use crate::{bail, Result};

/// The revision when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// The hub's address when `HF_ENDPOINT` does not name another.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A model repository id: `name` or `org/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoId {
    id: String,
}

impl RepoId {
    /// Checks an id as the hub does: one or two parts separated by `/`, each of letters, digits, `-`, `_`
    /// and `.`, not starting or ending with `-` or `.`, no `--` or `..`, at most 96 characters.
    pub fn parse(id: &str) -> Result<RepoId> {
        let parts: Vec<&str> = id.split('/').collect();
        if id.is_empty() || id.len() > 96 || parts.len() > 2 {
            bail!("{id:?} is not a model id (expected `name` or `org/name`, at most 96 characters)");
        }
        for part in &parts {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
            if part.is_empty()
                || !part.chars().all(allowed)
                || part.starts_with(['-', '.'])
                || part.ends_with(['-', '.'])
                || part.contains("--")
                || part.contains("..")
            {
                bail!(
                    "{id:?} is not a model id: each part of `org/name` is letters, digits, `-`, `_` and `.`, \
                     without `--` or `..` and not starting or ending with `-` or `.`"
                );
            }
        }
        Ok(RepoId { id: id.to_string() })
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The repository's folder in the cache: `models--org--name`.
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.id.replace('/', "--"))
    }
}

impl std::fmt::Display for RepoId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

/// A revision that is a full commit hash (40 hex digits) names a snapshot directly; a branch or tag goes
/// through `refs/`.
pub fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40
        && revision
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Checks a revision (a branch, tag or commit): no empty or `..` path parts, no backslash, no control
/// characters, so that `refs/{revision}` stays inside the cache.
pub fn check_revision(revision: &str) -> Result<()> {
    let bad_part = revision.split('/').any(|p| p.is_empty() || p == "." || p == "..");
    if bad_part || revision.contains('\\') || revision.chars().any(char::is_control) {
        bail!("{revision:?} is not a revision (a branch, tag or commit hash)");
    }
    Ok(())
}

/// The URL of one file of a repository at a revision: `{endpoint}/{id}/resolve/{revision}/{file}`, the
/// revision percent-encoded (a branch such as `refs/pr/1` has slashes).
pub fn resolve_url(endpoint: &str, id: &RepoId, revision: &str, file: &str) -> String {
    let mut encoded = String::new();
    for b in revision.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{}/{id}/resolve/{encoded}/{file}", endpoint.trim_end_matches('/'))
}

/// A blob's name in the cache from an `ETag` header (`"abc"`, `W/"abc"`): the tag without quotes, checked to
/// be a plain name (letters, digits, `-`, `_`) so that `blobs/{etag}` stays inside the cache.
pub fn blob_name(etag: &str) -> Result<String> {
    let tag = etag.trim().trim_start_matches("W/").trim_matches('"');
    if tag.is_empty() || tag.len() > 128 || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        bail!("the hub sent the ETag {etag:?}, which is not a blob name");
    }
    Ok(tag.to_string())
}

/// The index of sharded weights.
pub const WEIGHTS_INDEX: &str = "model.safetensors.index.json";

/// The shard files an index's `weight_map` names, each once, in order of first appearance.
pub fn shard_files(index_json: &[u8]) -> Result<Vec<String>> {
    let index: serde_json::Value = serde_json::from_slice(index_json)
        .map_err(|e| crate::Error::new(format!("{WEIGHTS_INDEX}: not valid JSON: {e}")))?;
    let Some(map) = index.get("weight_map").and_then(|m| m.as_object()) else {
        bail!("{WEIGHTS_INDEX}: no \"weight_map\" object");
    };
    let mut files: Vec<String> = Vec::new();
    for (tensor, file) in map {
        let Some(file) = file.as_str() else {
            bail!("{WEIGHTS_INDEX}: weight_map[{tensor:?}] is not a file name");
        };
        if file.contains('/') || file.contains('\\') || file.starts_with('.') || !file.ends_with(".safetensors") {
            bail!("{WEIGHTS_INDEX}: weight_map[{tensor:?}] = {file:?} is not a .safetensors file beside the index");
        }
        if !files.iter().any(|f| f == file) {
            files.push(file.to_string());
        }
    }
    if files.is_empty() {
        bail!("{WEIGHTS_INDEX}: weight_map names no files");
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_urls_encode_the_revision() {
        let id = RepoId::parse("org/name").unwrap();
        assert_eq!(
            resolve_url("https://hub.test/", &id, "refs/pr/1", "config.json"),
            "https://hub.test/org/name/resolve/refs%2Fpr%2F1/config.json"
        );
        assert_eq!(
            resolve_url(DEFAULT_ENDPOINT, &id, "main", "vocab.txt"),
            "https://huggingface.co/org/name/resolve/main/vocab.txt"
        );
    }

    #[test]
    fn blob_names_come_from_plain_etags_only() {
        assert_eq!(blob_name("\"0a1b\"").unwrap(), "0a1b");
        assert_eq!(blob_name("W/\"0a1b-c\"").unwrap(), "0a1b-c");
        for bad in ["", "\"\"", "\"../x\"", "\"a/b\"", "\"a.b\""] {
            assert!(blob_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
