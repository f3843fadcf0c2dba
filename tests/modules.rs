//! The module graph of `src/`: the layers of `docs/ARCHITECTURE.md` import only from the layers below
//! them, and no two modules import each other, at any depth (`model` and `ops`, or `tasks::pipeline` and
//! `tasks::sequence`). A module's imports are the `crate::` and `super::` paths of
//! its files' code (comments excluded); a path counts at the first level where it leaves the importing
//! module, so `crate::ops::tune::X` used in `model::config` is an edge `model -> ops`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module path of a source file: `src/tasks/span/mod.rs` -> ["tasks", "span"].
fn module_path(file: &Path, src: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The path segments after each `crate::` or `super::` in a line of code, resolved against `module`.
fn imported_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let segments = rest
                .split("::")
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                })
                .map(String::from_iter)
                .take_while(|s| !s.is_empty());
            let mut path = base.clone();
            // The binary crate holds `src/cli` as its module `bert_wgpu_cli`.
            path.extend(segments.map(|s| if s == "bert_wgpu_cli" { "cli".to_string() } else { s }));
            out.push(path);
        }
    }
    out
}

/// The layers of `docs/ARCHITECTURE.md`, bottom up: a top-level module may import from its own layer
/// and the ones below. (`bail` and `wgsl_file` are the crate's macros.)
const LAYERS: [&[&str]; 7] = [
    &["error", "rng", "bail", "wgsl_file"],
    &["gpu", "io", "tokenizer", "vocab"],
    &["ops"],
    &["model"],
    &["tasks"],
    &["train", "pipelines"],
    &["cli", "web"],
];

fn layer(module: &str) -> usize {
    (LAYERS.iter().position(|l| l.contains(&module)))
        .unwrap_or_else(|| panic!("module {module:?} is in no layer of docs/ARCHITECTURE.md (LAYERS here)"))
}

/// Every import between two modules: (importer, imported) -> a line that shows it.
fn module_imports() -> BTreeMap<(String, String), String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // (importer, imported) -> a line that shows it.
    let mut edges: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        let module = module_path(file, &src);
        if module == ["lib"] || module == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for path in imported_paths(code, &module) {
                let shared = module.iter().zip(&path).take_while(|(a, b)| a == b).count();
                if shared < module.len() && shared < path.len() {
                    let from = module[..=shared].join("::");
                    let to = path[..=shared].join("::");
                    let at = format!("{}: {}", file.display(), line.trim());
                    edges.entry((from, to)).or_insert(at);
                }
            }
        }
    }
    edges
}

#[test]
fn layers_import_only_from_the_layers_below() {
    let edges = module_imports();
    let upward: Vec<String> = (edges.iter())
        .filter(|((a, b), _)| !a.contains("::") && layer(b) > layer(a))
        .map(|((a, b), at)| format!("{a} -> {b}\n  {at}"))
        .collect();
    assert!(upward.is_empty(), "imports from a higher layer:\n{}", upward.join("\n"));
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = module_imports();
    assert!(
        edges.len() > 20,
        "the scan found only {} imports between modules",
        edges.len()
    );
    let cycles: BTreeSet<String> = (edges.iter())
        .filter(|((a, b), _)| a < b)
        .filter_map(|((a, b), at)| {
            edges
                .get(&(b.clone(), a.clone()))
                .map(|back| format!("{a} <-> {b}\n  {at}\n  {back}"))
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "modules that import each other:\n{}",
        Vec::from_iter(cycles).join("\n")
    );
}
