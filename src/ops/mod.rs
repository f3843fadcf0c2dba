//! One module per shader file: its kernels (bindings in order, the uniform as a `#[repr(C)]` struct), shape
//! checks and the dispatch of its forward and backward side by side; `tune` picks the matmul candidate.

pub mod adamw;
pub mod attention;
pub mod cross_entropy;
pub mod dropout;
pub mod embedding;
pub mod gather;
pub mod gelu;
pub mod layernorm;
pub mod matmul;
pub mod mse;
pub mod span;
pub mod sum_rows;
pub mod tune;

/// Every kernel of every op, each matmul candidate with each of its entry points included: what
/// tests/shaders.rs checks against the WGSL (bindings, their access, the uniform's size).
pub fn all_kernels() -> Vec<crate::gpu::Kernel> {
    let ops = [
        adamw::KERNELS,
        attention::KERNELS,
        cross_entropy::KERNELS,
        dropout::KERNELS,
        embedding::KERNELS,
        gather::KERNELS,
        gelu::KERNELS,
        layernorm::KERNELS,
        mse::KERNELS,
        span::KERNELS,
        sum_rows::KERNELS,
    ];
    let matmuls = crate::gpu::matmul_gen::CANDIDATES
        .iter()
        .flat_map(|&k| crate::gpu::matmul_gen::Entry::ALL.map(|entry| matmul::kernel(k, entry)));
    ops.concat().into_iter().chain(matmuls).collect()
}

/// Every shader module the kernels use, each once: every matmul candidate and every op's WGSL file.
pub fn all_shaders() -> Vec<crate::gpu::Shader> {
    let mut shaders = Vec::new();
    for kernel in all_kernels() {
        if !shaders.contains(&kernel.shader) {
            shaders.push(kernel.shader);
        }
    }
    shaders
}

/// Workgroup counts for `n` invocations of a 64-wide 1-D kernel, folded into y when x would exceed the
/// 65535 limit. Kernels rebuild the index as `gid.x + gid.y * num_workgroups.x * 64`.
pub fn grid_1d(n: usize) -> [u32; 3] {
    let groups = n.div_ceil(64);
    if groups <= 65535 {
        [groups as u32, 1, 1]
    } else {
        let y = groups.div_ceil(65535);
        [groups.div_ceil(y) as u32, y as u32, 1]
    }
}

/// Activation functions by Hugging Face's `hidden_act` names; the value is the shader's `ACT_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    None = 0,
    Gelu = 1,
    GeluTanh = 2,
    Tanh = 3,
    Relu = 4,
}

impl Act {
    pub fn from_hf_name(name: &str) -> Option<Act> {
        match name {
            "gelu" => Some(Act::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Act::GeluTanh),
            "relu" => Some(Act::Relu),
            "tanh" => Some(Act::Tanh),
            _ => None,
        }
    }
}
