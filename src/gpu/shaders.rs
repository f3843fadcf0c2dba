//! The registry of kernel sources: one WGSL file per op family, `common.wgsl` prepended to each; the matmul
//! family is generated per candidate (`matmul_gen/`: candidates and plans in `mod.rs`, the WGSL writer in `wgsl.rs`).

use std::borrow::Cow;

use super::matmul_gen::{MatmulKernel, CANDIDATES};

/// A WGSL file under `shaders/`, or one generated matmul candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul(MatmulKernel),
    Attention,
    Layernorm,
    Gelu,
    Embedding,
    Gather,
    CrossEntropy,
    Adamw,
    Dropout,
    Span,
    Mse,
    SumRows,
}

pub const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The sizes, bindings and epilogue of every matmul candidate (prepended after `COMMON`).
pub const MATMUL_COMMON: &str = include_str!("../../shaders/matmul_common.wgsl");
/// Deterministic workgroup reductions for the cross-entropy and AdamW kernels.
pub const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");

/// Every WGSL file: its shader, its name under `shaders/` and its text. The one place a new file is listed.
const FILES: [(Shader, &str, &str); 11] = [
    (
        Shader::Attention,
        "attention.wgsl",
        include_str!("../../shaders/attention.wgsl"),
    ),
    (
        Shader::Layernorm,
        "layernorm.wgsl",
        include_str!("../../shaders/layernorm.wgsl"),
    ),
    (Shader::Gelu, "gelu.wgsl", include_str!("../../shaders/gelu.wgsl")),
    (
        Shader::Embedding,
        "embedding.wgsl",
        include_str!("../../shaders/embedding.wgsl"),
    ),
    (Shader::Gather, "gather.wgsl", include_str!("../../shaders/gather.wgsl")),
    (
        Shader::CrossEntropy,
        "cross_entropy.wgsl",
        include_str!("../../shaders/cross_entropy.wgsl"),
    ),
    (Shader::Adamw, "adamw.wgsl", include_str!("../../shaders/adamw.wgsl")),
    (
        Shader::Dropout,
        "dropout.wgsl",
        include_str!("../../shaders/dropout.wgsl"),
    ),
    (Shader::Span, "span.wgsl", include_str!("../../shaders/span.wgsl")),
    (Shader::Mse, "mse.wgsl", include_str!("../../shaders/mse.wgsl")),
    (
        Shader::SumRows,
        "sum_rows.wgsl",
        include_str!("../../shaders/sum_rows.wgsl"),
    ),
];

impl Shader {
    /// Every shader: each matmul candidate, then the files.
    pub fn all() -> Vec<Shader> {
        CANDIDATES
            .iter()
            .map(|&k| Shader::Matmul(k))
            .chain(FILES.iter().map(|f| f.0))
            .collect()
    }

    fn file(self) -> &'static (Shader, &'static str, &'static str) {
        FILES
            .iter()
            .find(|f| f.0 == self)
            .expect("every shader but the generated matmuls has a row in FILES")
    }

    /// The file's name, or for a generated matmul the candidate's name.
    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Matmul(k) => k.name,
            _ => self.file().1,
        }
    }

    /// The file's own text, without `common.wgsl`.
    pub fn body(self) -> Cow<'static, str> {
        match self {
            Shader::Matmul(k) => Cow::Owned(k.source()),
            _ => Cow::Borrowed(self.file().2),
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
            Shader::CrossEntropy | Shader::Adamw => REDUCE,
            _ => "",
        }
    }
}
