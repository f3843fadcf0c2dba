//! Writing: a file from host tensors (F32 or F16), or one file from the shards of a sharded checkpoint.

use std::collections::{BTreeMap, HashMap};

use half::f16;
use serde_json::{json, Map, Value};

use super::read::parse;
use super::{Entry, HostTensor, SaveDtype};
use crate::error::Context;
use crate::{bail, Result};

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
        // What `load` refuses is never written: a value that is not finite, or not in the f16 range.
        let representable = |v: f32| match dtype {
            SaveDtype::F32 => v.is_finite(),
            SaveDtype::F16 => f16::from_f32(v).is_finite(),
        };
        if let Some(i) = tensor.data.iter().position(|&v| !representable(v)) {
            let v = tensor.data[i];
            match dtype {
                SaveDtype::F32 => bail!("tensor {name}: value {i} is {v}; weights must be finite"),
                SaveDtype::F16 => bail!("tensor {name}: value {i} is {v}, beyond the range of F16; save in F32"),
            }
        }
    }
    let (type_name, size) = match dtype {
        SaveDtype::F32 => ("F32", 4),
        SaveDtype::F16 => ("F16", 2),
    };
    let mut metadata = metadata.unwrap_or_default();
    metadata.entry("format".to_string()).or_insert_with(|| "pt".to_string());
    let entries = sorted
        .iter()
        .map(|(name, t)| (*name, type_name, t.shape.as_slice(), t.data.len() * size));
    let mut out = start_file(json!(metadata), entries)?;
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

/// Joins the shards of a sharded checkpoint (`model-00001-of-00002.safetensors`, ...) into one file,
/// each tensor's bytes kept as stored (dtype unchanged). `shards` are (file name, bytes); a tensor in two
/// shards is an error naming both.
pub fn merge(shards: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut entries: BTreeMap<String, (&str, Entry)> = BTreeMap::new();
    for (file, bytes) in shards {
        for e in parse(bytes, file)? {
            if let Some((other, _)) = entries.get(&e.name) {
                bail!("tensor {} is in both {other} and {file}", e.name);
            }
            entries.insert(e.name.clone(), (file, e));
        }
    }
    let header =
        (entries.iter()).map(|(name, (_, e))| (name.as_str(), e.dtype.name(), e.shape.as_slice(), e.bytes.len()));
    let mut out = start_file(json!({"format": "pt"}), header)?;
    for (_, e) in entries.values() {
        out.extend_from_slice(e.bytes);
    }
    Ok(out)
}

/// The start of a safetensors file: the header's length, then the header with the metadata and each
/// (name, dtype, shape, bytes) at consecutive offsets, padded with spaces so that the data starts 8-byte
/// aligned as the reference writer does. The caller appends the tensors' bytes in the same order.
fn start_file<'a>(
    metadata: Value,
    tensors: impl Iterator<Item = (&'a str, &'static str, &'a [usize], usize)>,
) -> Result<Vec<u8>> {
    let mut header = Map::new();
    header.insert("__metadata__".to_string(), metadata);
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        let end = offset + bytes;
        header.insert(
            name.to_string(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut header = serde_json::to_vec(&header).context("safetensors header")?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    Ok(out)
}
