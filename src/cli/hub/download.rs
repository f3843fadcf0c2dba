//! Downloading a model into the Hugging Face cache, in the layout `huggingface_hub` writes, so that
//! transformers finds what bert-wgpu fetched and the other way round.
//!
//! For each file: a `HEAD` of `{endpoint}/{id}/resolve/{revision}/{file}` without following redirects gives
//! the commit (`X-Repo-Commit`), the blob's name (`X-Linked-Etag` for large files stored apart, else `ETag`)
//! and its size; a `GET` (redirects followed, to a CDN for large files) streams it into
//! `blobs/{etag}.incomplete`, resumed with a `Range` request when the connection drops, renamed to
//! `blobs/{etag}` once complete; `snapshots/{commit}/{file}` links to the blob and `refs/{revision}` names
//! the commit. A file the hub does not have is marked in `.no_exist/{commit}/{file}`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bert_wgpu::error::Context;
use bert_wgpu::io::hub::{self, blob_name, resolve_url, RepoId};
use bert_wgpu::io::ModelFiles;
use bert_wgpu::{Error, Result};

/// How many times a dropped download is resumed before giving up.
const RESUMES: usize = 3;

/// What a `HEAD` says of one file at one revision.
struct FileInfo {
    commit: String,
    blob: String,
    size: Option<u64>,
}

/// The connection to one hub (`HF_ENDPOINT` or huggingface.co) for one repository.
pub struct Download<'a> {
    agent: ureq::Agent,
    endpoint: String,
    token: Option<String>,
    id: &'a RepoId,
    /// `{cache}/models--org--name`.
    repo_dir: PathBuf,
}

impl<'a> Download<'a> {
    pub fn new(cache: &Path, id: &'a RepoId) -> Download<'a> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(format!("bert-wgpu/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .build()
            .into();
        Download {
            agent,
            endpoint: super::endpoint(),
            token: super::token(),
            id,
            repo_dir: cache.join(id.cache_folder()),
        }
    }

    /// Fetches what a model needs at `revision` (config, weights or their shards, tokenizer files) and
    /// returns the snapshot directory. Every file is looked up before any is downloaded, so that a model
    /// bert-wgpu cannot read (no safetensors, no tokenizer) leaves nothing in the cache.
    pub fn model(&self, revision: &str) -> Result<PathBuf> {
        let [config, weights, tokenizer_json, vocab_txt, ..] = ModelFiles::FILE_NAMES;
        let Some(first) = self.head(revision, config)? else {
            return Err(Error::new(format!(
                "model {}: the repository has no {config} at revision {revision:?}, so it is not a transformers model",
                self.id
            )));
        };
        // The commit pins every further request, so that all files come from one snapshot.
        let commit = first.commit.clone();
        let mut found = vec![(config.to_string(), first)];
        let mut absent = Vec::new();
        let mut tokenizers = 0;
        for name in &ModelFiles::FILE_NAMES[2..] {
            match self.head(&commit, name)? {
                Some(info) => {
                    tokenizers += usize::from(*name == tokenizer_json || *name == vocab_txt);
                    found.push((name.to_string(), info));
                }
                None => absent.push(*name),
            }
        }
        if tokenizers == 0 {
            return Err(Error::new(format!(
                "model {}: the repository has neither {tokenizer_json} nor {vocab_txt}",
                self.id
            )));
        }
        if let Some(info) = self.head(&commit, weights)? {
            found.push((weights.to_string(), info));
        } else if let Some(info) = self.head(&commit, hub::WEIGHTS_INDEX)? {
            absent.push(weights);
            let index = self.fetch(hub::WEIGHTS_INDEX, info)?;
            let index = std::fs::read(&index).context(index.display())?;
            for shard in hub::shard_files(&index)? {
                let Some(info) = self.head(&commit, &shard)? else {
                    return Err(Error::new(format!(
                        "model {}: {} names the shard {shard}, which the repository does not have",
                        self.id,
                        hub::WEIGHTS_INDEX
                    )));
                };
                found.push((shard, info));
            }
        } else if self.head(&commit, "pytorch_model.bin")?.is_some() {
            return Err(Error::new(format!(
                "model {}: the repository has only pytorch_model.bin (a PyTorch pickle), and bert-wgpu reads \
                 safetensors only, which cannot run code; convert it once with transformers: \
                 python -c \"from transformers import AutoModel, AutoTokenizer; \
                 AutoModel.from_pretrained('{id}').save_pretrained('{name}'); \
                 AutoTokenizer.from_pretrained('{id}').save_pretrained('{name}')\" \
                 and pass --model {name}",
                self.id,
                id = self.id,
                name = self.id.as_str().rsplit('/').next().unwrap_or("model"),
            )));
        } else {
            return Err(Error::new(format!(
                "model {}: the repository has no {weights} (nor {})",
                self.id,
                hub::WEIGHTS_INDEX
            )));
        }
        for (name, info) in found {
            self.fetch(&name, info)?;
        }
        for name in absent {
            let marker = self.repo_dir.join(".no_exist").join(&commit).join(name);
            create_parent(&marker)?;
            std::fs::write(&marker, b"").context(marker.display())?;
        }
        if revision != commit {
            self.write_ref(revision, &commit)?;
        }
        Ok(self.repo_dir.join("snapshots").join(commit))
    }

    fn request(&self, method: &str, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = match method {
            "HEAD" => self.agent.head(url),
            _ => self.agent.get(url),
        };
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// What the hub says of `file` at `revision`; `None` when the repository does not have that file.
    fn head(&self, revision: &str, file: &str) -> Result<Option<FileInfo>> {
        let mut url = resolve_url(&self.endpoint, self.id, revision, file);
        // Relative redirects (a renamed repository) are followed; the redirect of a large file to its CDN
        // carries the answer in its own headers.
        for _ in 0..5 {
            let response = self
                .request("HEAD", &url)
                .config()
                .max_redirects(0)
                .build()
                .call()
                .map_err(|e| self.unreachable(e))?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let commit = header("X-Repo-Commit");
            if (300..400).contains(&status) && commit.is_none() {
                match header("Location") {
                    Some(location) if location.starts_with('/') => {
                        url = format!("{}{location}", origin(&self.endpoint));
                        continue;
                    }
                    _ => return Err(Error::new(format!("{url}: redirected ({status}) without a commit"))),
                }
            }
            if status == 404 {
                return match header("X-Error-Code").as_deref() {
                    Some("EntryNotFound") | None => Ok(None),
                    Some("RevisionNotFound") => Err(Error::new(format!(
                        "model {}: no revision {revision:?} (a branch, tag or commit) on {}",
                        self.id, self.endpoint
                    ))),
                    Some(_) => Err(self.not_found()),
                };
            }
            if status == 401 {
                return Err(self.not_found());
            }
            if status == 403 {
                return Err(Error::new(format!(
                    "model {}: access refused (403): the repository is gated; accept its conditions at {}/{} \
                     with the account whose token is in HF_TOKEN or {}",
                    self.id,
                    self.endpoint,
                    self.id,
                    super::token_path().display()
                )));
            }
            if !(200..400).contains(&status) {
                return Err(Error::new(format!("{url}: the hub answered {status}")));
            }
            let Some(commit) = commit.filter(|c| hub::is_commit_hash(c)) else {
                return Err(Error::new(format!("{url}: no commit hash in the X-Repo-Commit header")));
            };
            let Some(etag) = header("X-Linked-Etag").or_else(|| header("ETag")) else {
                return Err(Error::new(format!("{url}: no ETag header")));
            };
            let size = header("X-Linked-Size")
                .or_else(|| header("Content-Length"))
                .and_then(|s| s.parse().ok());
            return Ok(Some(FileInfo {
                commit,
                blob: blob_name(&etag).context(&url)?,
                size,
            }));
        }
        Err(Error::new(format!("{url}: too many redirects")))
    }

    /// 401 and the hub's RepoNotFound: the hub answers alike for a repository that does not exist and one
    /// the token may not see.
    fn not_found(&self) -> Error {
        let how = match &self.token {
            Some(_) => "the token in use (HF_TOKEN or the token file) has no access to it".to_string(),
            None => format!(
                "if it is private or gated, set HF_TOKEN or log in (`hf auth login` writes {})",
                super::token_path().display()
            ),
        };
        Error::new(format!("model {}: not found on {} ({how})", self.id, self.endpoint))
    }

    fn unreachable(&self, e: ureq::Error) -> Error {
        Error::new(format!(
            "model {}: cannot reach {} ({e}); without a network, models already in the Hugging Face cache \
             run with HF_HUB_OFFLINE=1",
            self.id, self.endpoint
        ))
    }

    /// Makes `snapshots/{commit}/{file}` a link to the blob, downloading the blob if the cache lacks it;
    /// returns the link.
    fn fetch(&self, file: &str, info: FileInfo) -> Result<PathBuf> {
        let blob = self.repo_dir.join("blobs").join(&info.blob);
        if !blob.is_file() {
            self.download(file, &info, &blob)?;
        }
        let link = self.repo_dir.join("snapshots").join(&info.commit).join(file);
        create_parent(&link)?;
        let depth = file.matches('/').count();
        let target = PathBuf::from(format!("{}../../blobs/{}", "../".repeat(depth), info.blob));
        let _ = std::fs::remove_file(&link);
        link_or_copy(&target, &blob, &link)?;
        Ok(link)
    }

    /// Streams the file into `blobs/{etag}.incomplete` (resuming what an earlier attempt left there), then
    /// renames it to `blobs/{etag}` once its size is right.
    fn download(&self, file: &str, info: &FileInfo, blob: &Path) -> Result<()> {
        let part = blob.with_file_name(format!("{}.incomplete", info.blob));
        create_parent(&part)?;
        let url = resolve_url(&self.endpoint, self.id, &info.commit, file);
        let bar = indicatif::ProgressBar::new(info.size.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("a valid progress template"),
        );
        bar.set_message(format!("{}/{file}", self.id));
        let mut last_error = String::new();
        for _ in 0..=RESUMES {
            let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if Some(have) == info.size {
                break;
            }
            let mut request = self.request("GET", &url);
            if have > 0 {
                request = request.header("Range", format!("bytes={have}-"));
            }
            let response = request.call().map_err(|e| self.unreachable(e))?;
            let status = response.status().as_u16();
            let append = match status {
                206 => true,
                200 => false,
                _ => return Err(Error::new(format!("{url}: the download answered {status}"))),
            };
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&part)
                .context(part.display())?;
            let mut written = if append { have } else { 0 };
            bar.set_position(written);
            let mut body = response.into_body().into_reader();
            let mut chunk = vec![0u8; 1 << 16];
            let outcome = loop {
                match body.read(&mut chunk) {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        out.write_all(&chunk[..n]).context(part.display())?;
                        written += n as u64;
                        bar.set_position(written);
                    }
                    Err(e) => break Err(e),
                }
            };
            out.sync_all().context(part.display())?;
            match outcome {
                Ok(()) if info.size.is_none() || Some(written) == info.size => break,
                Ok(()) => last_error = format!("the connection closed after {written} bytes"),
                Err(e) => last_error = format!("the connection broke after {written} bytes ({e})"),
            }
        }
        bar.finish_and_clear();
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if info.size.is_some_and(|size| have != size) {
            return Err(Error::new(format!(
                "model {}: downloading {file} stopped at {have} of {} bytes: {last_error}; run the command again \
                 to resume from {}",
                self.id,
                info.size.unwrap_or(0),
                part.display()
            )));
        }
        std::fs::rename(&part, blob).context(part.display())
    }

    /// `refs/{revision}` names the commit a branch or tag points at.
    fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        let path = self.repo_dir.join("refs").join(revision);
        create_parent(&path)?;
        super::super::model_dir::write_atomic(&path, commit.as_bytes())
    }
}

/// `https://host:port` of an endpoint that may carry a path.
fn origin(endpoint: &str) -> &str {
    let after_scheme = endpoint.find("://").map_or(0, |i| i + 3);
    match endpoint[after_scheme..].find('/') {
        Some(i) => &endpoint[..after_scheme + i],
        None => endpoint,
    }
}

fn create_parent(path: &Path) -> Result<()> {
    let parent = path.parent().expect("a path inside the cache");
    std::fs::create_dir_all(parent).context(parent.display())
}

/// A relative symbolic link where the system has them, else a copy of the blob.
fn link_or_copy(target: &Path, blob: &Path, link: &Path) -> Result<()> {
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let linked = std::os::windows::fs::symlink_file(target, link);
    #[cfg(not(any(unix, windows)))]
    let linked: std::io::Result<()> = Err(std::io::ErrorKind::Unsupported.into());
    if linked.is_err() {
        let _ = target;
        std::fs::copy(blob, link).context(link.display())?;
    }
    Ok(())
}
