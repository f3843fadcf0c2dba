// A store-only (no compression) zip writer: enough to hand a model directory to the user as one download
// that `unzip`, Python's zipfile and every file manager open. Safetensors weights hardly compress anyway.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) of bytes, as zip stores it. */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** MS-DOS date and time fields of a Date (local time, 2-second resolution, from 1980). */
function dosDateTime(date) {
  const year = Math.max(1980, date.getFullYear());
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/**
 * A zip archive of `files` ({ name: Uint8Array | string } or [name, bytes] pairs), each stored under
 * `folder/` when a folder is given. Names are UTF-8. No zip64: each file and the archive stay under 4 GiB.
 */
export function zip(files, { folder = '', date = new Date() } = {}) {
  const entries = (Array.isArray(files) ? files : Object.entries(files)).map(([name, data]) => {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data);
    const path = folder ? `${folder.replace(/\/+$/, '')}/${name}` : name;
    return { name: new TextEncoder().encode(path), bytes, crc: crc32(bytes) };
  });
  const { time, date: day } = dosDateTime(date);
  let size = 22;
  for (const e of entries) size += 30 + e.name.length + e.bytes.length + 46 + e.name.length;
  if (size > 0xffffffff) throw new Error(`zip: ${size} bytes is more than a zip without zip64 can hold`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const u16 = (v) => {
    view.setUint16(at, v, true);
    at += 2;
  };
  const u32 = (v) => {
    view.setUint32(at, v >>> 0, true);
    at += 4;
  };
  const put = (bytes) => {
    out.set(bytes, at);
    at += bytes.length;
  };
  // Version 2.0, bit 11: names are UTF-8, method 0: stored.
  const common = (e) => {
    u16(20);
    u16(0x0800);
    u16(0);
    u16(time);
    u16(day);
    u32(e.crc);
    u32(e.bytes.length);
    u32(e.bytes.length);
    u16(e.name.length);
    u16(0);
  };
  for (const e of entries) {
    e.offset = at;
    u32(0x04034b50);
    common(e);
    put(e.name);
    put(e.bytes);
  }
  const directory = at;
  for (const e of entries) {
    u32(0x02014b50);
    u16(20); // made by
    common(e);
    u16(0); // comment length
    u16(0); // disk
    u16(0); // internal attributes
    u32(0); // external attributes
    u32(e.offset);
    put(e.name);
  }
  const directorySize = at - directory;
  u32(0x06054b50);
  u16(0);
  u16(0);
  u16(entries.length);
  u16(entries.length);
  u32(directorySize);
  u32(directory);
  u16(0);
  return out;
}
