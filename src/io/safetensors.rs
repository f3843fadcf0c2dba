//! safetensors files as host tensors, bytes in and bytes out. Loads F32, F16, BF16 and F64 as f32 and
//! I64/I32 as i64; saves F32 or F16. Any byte input gives a tensor list or an error, never a panic.

use std::collections::{BTreeMap, HashMap};

use half::{bf16, f16};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::Context;
use crate::{bail, Error, Result};

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

    fn is_float(self) -> bool {
        !matches!(self, Dtype::I64 | Dtype::I32)
    }
}

/// One tensor's header entry, as the format spells it.
#[derive(Deserialize)]
struct Info {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Splits a file into its tensors, in the order of their data, checking every offset and size.
fn parse<'a>(bytes: &'a [u8], file: &str) -> Result<Vec<Entry<'a>>> {
    if bytes.is_empty() {
        bail!("{file}: empty file");
    }
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        bail!(
            "{file}: truncated or corrupt: {} bytes, too short for a header",
            bytes.len()
        );
    };
    let header_len = u64::from_le_bytes(*len);
    if header_len > rest.len() as u64 {
        bail!(
            "{file}: truncated or corrupt: the header claims {header_len} bytes, but only {} follow",
            rest.len()
        );
    }
    let (header, data) = rest.split_at(header_len as usize);
    let header = std::str::from_utf8(header).context(format!("{file}: truncated or corrupt: header is not UTF-8"))?;
    let header: Map<String, Value> =
        serde_json::from_str(header).context(format!("{file}: header is not a JSON object"))?;
    let mut entries = Vec::with_capacity(header.len());
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let info: Info = serde_json::from_value(info).context(format!("{file}: tensor {name}: bad header entry"))?;
        let Some(dtype) = Dtype::parse(&info.dtype) else {
            bail!("{file}: tensor {name}: dtype {} is not supported", info.dtype);
        };
        let (start, end) = info.data_offsets;
        let n_bytes = info
            .shape
            .iter()
            .try_fold(dtype.size(), |n, &d| n.checked_mul(d))
            .ok_or_else(|| Error(format!("{file}: tensor {name}: shape {:?} is too large", info.shape)))?;
        if end < start || end - start != n_bytes {
            bail!(
                "{file}: truncated or corrupt: tensor {name}: data offsets [{start}, {end}] do not hold \
                 shape {:?} of {} ({n_bytes} bytes)",
                info.shape,
                info.dtype
            );
        }
        let Some(bytes) = data.get(start..end) else {
            bail!(
                "{file}: truncated or corrupt: tensor {name}: data offsets [{start}, {end}] are out of range \
                 ({} data bytes)",
                data.len()
            );
        };
        entries.push(Entry {
            name,
            start,
            dtype,
            shape: info.shape,
            bytes,
        });
    }
    entries.sort_by_key(|e| e.start); // stable: ties stay in name order
    Ok(entries)
}

fn to_f32(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::I64 | Dtype::I32 => to_i64(dtype, bytes).into_iter().map(|v| v as f32).collect(),
    }
}

fn to_i64(dtype: Dtype, bytes: &[u8]) -> Vec<i64> {
    match dtype {
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        _ => to_f32(dtype, bytes).into_iter().map(|v| v as i64).collect(),
    }
}

/// The floating-point tensors of a safetensors file (F32, F16, BF16, F64), as f32, in file order.
/// Integer tensors (I64, I32, such as `position_ids` buffers) are left out: [`load_ints`] reads them.
/// `file_name` only labels errors.
pub fn load(bytes: &[u8], file_name: &str) -> Result<Vec<(String, HostTensor)>> {
    Ok(parse(bytes, file_name)?
        .into_iter()
        .filter(|e| e.dtype.is_float())
        .map(|e| {
            (
                e.name,
                HostTensor {
                    data: to_f32(e.dtype, e.bytes),
                    shape: e.shape,
                },
            )
        })
        .collect())
}

/// The integer tensors of a safetensors file (I64, I32), as i64, in file order.
pub fn load_ints(bytes: &[u8], file_name: &str) -> Result<Vec<(String, IntTensor)>> {
    Ok(parse(bytes, file_name)?
        .into_iter()
        .filter(|e| !e.dtype.is_float())
        .map(|e| {
            (
                e.name,
                IntTensor {
                    data: to_i64(e.dtype, e.bytes),
                    shape: e.shape,
                },
            )
        })
        .collect())
}

/// Writes a safetensors file, tensors sorted by name as the `safetensors` package does. The metadata
/// gets `"format": "pt"` unless it names a format: transformers refuses files without it.
pub fn save<S: AsRef<str>>(
    tensors: &[(S, &HostTensor)],
    dtype: SaveDtype,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>> {
    let mut sorted: BTreeMap<&str, &HostTensor> = BTreeMap::new();
    for (name, tensor) in tensors {
        let name = name.as_ref();
        let numel = tensor.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if numel != Some(tensor.data.len()) {
            bail!(
                "tensor {name}: shape {:?} does not hold {} values",
                tensor.shape,
                tensor.data.len()
            );
        }
        if name == "__metadata__" || sorted.insert(name, tensor).is_some() {
            bail!("tensor {name}: name used twice or reserved");
        }
    }
    let (type_name, size) = match dtype {
        SaveDtype::F32 => ("F32", 4),
        SaveDtype::F16 => ("F16", 2),
    };
    let mut metadata = metadata.unwrap_or_default();
    metadata.entry("format".to_string()).or_insert_with(|| "pt".to_string());
    let mut header = Map::new();
    header.insert("__metadata__".to_string(), json!(metadata));
    let mut offset = 0;
    for (name, tensor) in &sorted {
        let end = offset + tensor.data.len() * size;
        header.insert(
            name.to_string(),
            json!({"dtype": type_name, "shape": tensor.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).context("safetensors header")?;
    // Pad with spaces so that the data starts 8-byte aligned, as the reference writer does.
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for tensor in sorted.values() {
        match dtype {
            SaveDtype::F32 => tensor.data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            SaveDtype::F16 => tensor
                .data
                .iter()
                .for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
        }
    }
    Ok(out)
}
