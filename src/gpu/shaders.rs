//! Kernel sources: each op module names its own WGSL file under `shaders/` (`Shader::file`), with
//! `common.wgsl` prepended to each; the matmul family is generated per candidate (`matmul_gen/`: candidates
//! and plans in `mod.rs`, the WGSL writer in `wgsl.rs`). `ops::all_shaders()` lists every one in use.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use super::matmul_gen::MatmulKernel;

/// A WGSL file under `shaders/`, or one generated matmul candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul(MatmulKernel),
    File(WgslFile),
}

/// One WGSL file: its name under `shaders/`, its text, and the text its op family shares (placed between
/// `common.wgsl` and the file). Files are told apart by name.
#[derive(Clone, Copy, Debug)]
pub struct WgslFile {
    pub name: &'static str,
    pub text: &'static str,
    pub prelude: &'static str,
}

impl PartialEq for WgslFile {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for WgslFile {}
impl Hash for WgslFile {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The sizes, bindings and epilogue of every matmul candidate (prepended after `COMMON`).
pub const MATMUL_COMMON: &str = include_str!("../../shaders/matmul_common.wgsl");
/// Deterministic workgroup reductions for the cross-entropy and AdamW kernels.
pub const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");

/// The `Shader` of `shaders/<name>`, read into the binary at compile time: `wgsl_file!("gelu.wgsl")`, or
/// `wgsl_file!("adamw.wgsl", REDUCE)` with a shared prelude from this module.
#[macro_export]
macro_rules! wgsl_file {
    ($name:literal) => {
        $crate::wgsl_file!($name, "")
    };
    ($name:literal, $prelude:expr) => {
        $crate::gpu::Shader::File($crate::gpu::shaders::WgslFile {
            name: $name,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name)),
            prelude: $prelude,
        })
    };
}

impl Shader {
    /// The file's name, or for a generated matmul the candidate's name.
    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Matmul(k) => k.name,
            Shader::File(f) => f.name,
        }
    }

    /// The file's own text, without `common.wgsl`.
    pub fn body(self) -> Cow<'static, str> {
        match self {
            Shader::Matmul(k) => Cow::Owned(k.source()),
            Shader::File(f) => Cow::Borrowed(f.text),
        }
    }

    /// Whether the file uses subgroup operations (and so needs `Features::SUBGROUP`).
    pub fn uses_subgroups(self) -> bool {
        matches!(self, Shader::Matmul(k) if k.uses_subgroups())
    }

    /// The module text handed to the device. Browsers require `enable subgroups;` before a shader may
    /// use subgroup builtins, while naga (native wgpu) rejects the directive: add it only on the web.
    pub fn module_source(self, for_browser: bool) -> String {
        let directive = if for_browser && self.uses_subgroups() {
            "enable subgroups;\n"
        } else {
            ""
        };
        format!("{directive}{COMMON}\n{}{}", self.prelude(), self.body())
    }

    /// Text shared by the files of one op family, between `common.wgsl` and the file itself.
    pub fn prelude(self) -> &'static str {
        match self {
            Shader::Matmul(_) => MATMUL_COMMON,
            Shader::File(f) => f.prelude,
        }
    }
}
