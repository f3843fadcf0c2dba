//! safetensors files as host tensors, bytes in and bytes out. Loads F32, F16, BF16 and F64 as f32 and
//! I64/I32 as i64; saves F32 or F16. Any byte input gives a tensor list or an error, never a panic.

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// One tensor's header entry, as the format spells it.
#[derive(Deserialize)]
struct Info {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// The header's entries in the order written, duplicates kept (a `serde_json::Map` keeps one of them).
struct HeaderEntries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for HeaderEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = HeaderEntries;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of tensor entries")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<HeaderEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(HeaderEntries(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A JSON value as text for an error message, cut after 40 characters.
fn short_json(v: &Value) -> String {
    let text = v.to_string();
    let (start, cut) = crate::error::cut_for_message(&text, 40);
    format!("{start}{}", if cut { "..." } else { "" })
}

/// The longest header the format allows (the reference implementation's limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Splits a file into its tensors, in the order of their data. Checks what the reference implementation
/// checks: a header of at most 100 MB that is a JSON object, each name once, `__metadata__` (if any) a map
/// of strings, sizes that match dtype × shape, and data offsets that tile the data exactly (sorted by
/// start they begin at 0, each starts where the previous ended, and the last ends at the end of the file).
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
    if header_len > MAX_HEADER_BYTES {
        bail!(
            "{file}: corrupt: the header claims {header_len} bytes, more than the format's limit of {MAX_HEADER_BYTES}"
        );
    }
    let (header, data) = rest.split_at(header_len as usize);
    let header = std::str::from_utf8(header).context(format!("{file}: truncated or corrupt: header is not UTF-8"))?;
    let HeaderEntries(header) = serde_json::from_str(header).context(format!("{file}: header is not a JSON object"))?;
    let mut seen = HashSet::with_capacity(header.len());
    if let Some((name, _)) = header.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        bail!("{file}: corrupt: the header names {name} twice");
    }
    let mut entries = Vec::with_capacity(header.len());
    for (name, info) in header {
        if name == "__metadata__" {
            let fault = match &info {
                Value::Null => None,
                Value::Object(map) => (map.iter())
                    .find(|(_, v)| !v.is_string())
                    .map(|(k, v)| format!("{k:?} is {}", short_json(v))),
                other => Some(format!("found {}", short_json(other))),
            };
            if let Some(fault) = fault {
                bail!("{file}: __metadata__ must be a map of strings to strings: {fault}");
            }
            continue;
        }
        let info: Info = serde_json::from_value(info).context(format!("{file}: tensor {name}: bad header entry"))?;
        let Some(dtype) = Dtype::parse(&info.dtype) else {
            bail!("{file}: tensor {name}: dtype {} is not supported", info.dtype);
        };
        let (start, end) = info.data_offsets;
        // The element count first, as the reference reader does: a zero dimension makes any shape empty.
        let n_bytes = (info.shape.iter())
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| Error::new(format!("{file}: tensor {name}: shape {:?} is too large", info.shape)))?;
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
    // By (start, end), as the reference reader sorts: an empty tensor sorts before a full one at its start.
    entries.sort_by_key(|e| (e.start, e.start + e.bytes.len())); // stable: ties stay in header order
    let mut end = 0; // where the previous tensor's data ends
    let mut previous: Option<&Entry> = None;
    for e in &entries {
        let (name, start, e_end) = (&e.name, e.start, e.start + e.bytes.len());
        match previous {
            _ if start == end => {}
            Some(p) if start < end => bail!(
                "{file}: corrupt: tensor {name}: data offsets [{start}, {e_end}] overlap those of tensor {} \
                 [{}, {end}]",
                p.name,
                p.start
            ),
            Some(p) => bail!(
                "{file}: corrupt: tensor {name}: data offsets [{start}, {e_end}] leave bytes [{end}, {start}] \
                 unused after tensor {}",
                p.name
            ),
            None => bail!(
                "{file}: corrupt: tensor {name}: data offsets [{start}, {e_end}] leave bytes [0, {start}] unused \
                 at the start of the data"
            ),
        }
        end = e_end;
        previous = Some(e);
    }
    if end != data.len() {
        bail!(
            "{file}: corrupt: {} bytes after the last tensor's data (the tensors end at offset {end}, the \
             data holds {} bytes)",
            data.len() - end,
            data.len()
        );
    }
    Ok(entries)
}

/// Decodes little-endian values of `N` bytes each.
fn decode<'a, const N: usize, T>(bytes: &'a [u8], from_le: impl Fn([u8; N]) -> T + 'a) -> impl Iterator<Item = T> + 'a {
    bytes
        .chunks_exact(N)
        .map(move |c| from_le(c.try_into().unwrap_or([0; N])))
}

/// The values of a float tensor as f32, refused when one is NaN or infinite (also an F64 value beyond
/// the f32 range): weights, checkpoints and optimizer moments must all be finite. One pass over the data.
fn finite_f32(e: &Entry, file: &str) -> Result<Vec<f32>> {
    let mut finite = true;
    let mut check = |v: f32| {
        finite &= v.is_finite();
        v
    };
    let data: Vec<f32> = match e.dtype {
        Dtype::F32 => decode(e.bytes, f32::from_le_bytes).map(&mut check).collect(),
        Dtype::F16 => decode(e.bytes, |b| f16::from_le_bytes(b).to_f32())
            .map(&mut check)
            .collect(),
        Dtype::BF16 => decode(e.bytes, |b| bf16::from_le_bytes(b).to_f32())
            .map(&mut check)
            .collect(),
        Dtype::F64 => decode(e.bytes, |b| f64::from_le_bytes(b) as f32)
            .map(&mut check)
            .collect(),
        Dtype::I64 | Dtype::I32 => return Err(wrong_dtype(file, &e.name, e.dtype.name())),
    };
    if finite {
        return Ok(data);
    }
    let index = data.iter().position(|v| !v.is_finite()).unwrap_or(0);
    let value = match e.dtype {
        Dtype::F64 => decode(e.bytes, f64::from_le_bytes).nth(index).unwrap_or(f64::NAN),
        _ => data.get(index).map_or(f64::NAN, |&v| v as f64),
    };
    let what = if value.is_finite() {
        format!("{value:e}, beyond the range of f32")
    } else {
        format!("{value}")
    };
    bail!(
        "{file}: tensor {}: value {index} (row-major, shape {:?}) is {what}; weights must be finite",
        e.name,
        e.shape
    )
}

fn to_i64(dtype: Dtype, bytes: &[u8]) -> Vec<i64> {
    match dtype {
        Dtype::I32 => decode(bytes, |b| i32::from_le_bytes(b) as i64).collect(),
        _ => decode(bytes, i64::from_le_bytes).collect(),
    }
}

/// The floating-point tensors of a safetensors file (F32, F16, BF16, F64), as f32, in file order.
/// Integer tensors (I64, I32, such as `position_ids` buffers) are left out: [`load_ints`] reads them, and
/// [`dtypes`] tells which they are. A NaN or infinite value is an error naming the tensor and its index.
/// `file_name` only labels errors.
pub fn load(bytes: &[u8], file_name: &str) -> Result<Vec<(String, HostTensor)>> {
    parse(bytes, file_name)
        .map_err(Error::in_file)?
        .into_iter()
        .filter(|e| e.dtype.is_float())
        .map(|e| {
            let data = finite_f32(&e, file_name).map_err(Error::in_file)?;
            Ok((e.name, HostTensor { data, shape: e.shape }))
        })
        .collect()
}

/// The integer tensors of a safetensors file (I64, I32), as i64, in file order.
pub fn load_ints(bytes: &[u8], file_name: &str) -> Result<Vec<(String, IntTensor)>> {
    Ok(parse(bytes, file_name)
        .map_err(Error::in_file)?
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

/// The name and dtype (as the header spells it: `F32`, `I64`, ...) of every tensor of a safetensors file,
/// in file order, without decoding the data.
pub fn dtypes(bytes: &[u8], file_name: &str) -> Result<Vec<(String, &'static str)>> {
    Ok(parse(bytes, file_name)?
        .into_iter()
        .map(|e| (e.name, e.dtype.name()))
        .collect())
}

/// The error for a float tensor that [`load`] did not return: present with an integer dtype, or missing.
pub fn missing_float(bytes: &[u8], file_name: &str, name: &str) -> Error {
    let dtype = dtypes(bytes, file_name)
        .ok()
        .and_then(|d| d.into_iter().find(|(n, _)| n == name));
    match dtype {
        Some((_, dtype)) => wrong_dtype(file_name, name, dtype),
        None => Error::new(format!("{file_name}: missing tensor {name}")),
    }
}

/// The error for a tensor stored as integers where weights are needed.
pub fn wrong_dtype(file_name: &str, name: &str, dtype: &str) -> Error {
    Error::new(format!(
        "{file_name}: tensor {name} has dtype {dtype}, but a floating-point dtype (F32, F16, BF16 or F64) \
         is needed"
    ))
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
