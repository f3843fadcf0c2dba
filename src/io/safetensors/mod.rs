//! safetensors files as host tensors, bytes in and bytes out. Loads F32, F16, BF16 and F64 as f32 and
//! I64/I32 as i64; saves F32 or F16. Any byte input gives a tensor list or an error, never a panic.
//!
//! - `read.rs`: parsing a file (every header field checked against the bytes) and decoding its tensors;
//! - `write.rs`: writing a file, and joining the shards of a sharded checkpoint into one.

mod read;
mod write;

pub use read::{dtypes, load, load_ints, missing_float, wrong_dtype};
pub use write::{merge, save};

/// A tensor in host memory, row-major: `data.len()` is the product of `shape` (1 for a scalar).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// An integer tensor in host memory (token ids, labels), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntTensor {
    pub shape: Vec<usize>,
    pub data: Vec<i64>,
}

/// The element type [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveDtype {
    F32,
    F16,
}

/// One tensor of a parsed file: its name, dtype and bytes.
struct Entry<'a> {
    name: String,
    start: usize,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// The dtype as the header spells it.
    fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
        }
    }

    fn is_float(self) -> bool {
        !matches!(self, Dtype::I64 | Dtype::I32)
    }
}
