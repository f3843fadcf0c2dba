//! Reading: the header parsed and checked against the bytes, then each tensor decoded.

use std::collections::HashSet;

use half::{bf16, f16};
use serde::Deserialize;
use serde_json::Value;

use super::{Dtype, Entry, HostTensor, IntTensor};
use crate::error::Context;
use crate::{bail, Error, Result};

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
pub(super) fn parse<'a>(bytes: &'a [u8], file: &str) -> Result<Vec<Entry<'a>>> {
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
