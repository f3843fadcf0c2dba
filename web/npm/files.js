// Model directories from every source Bert.load accepts: a URL (fetched), a hub id (hub.js), Files, bytes by
// role or by file name, or a loaded Bert (its save()).

import { BertError } from './runtime.js';
import { isHubId, readHubModel } from './hub.js';

const FILE_KEYS = {
  'config.json': 'config',
  'model.safetensors': 'weights',
  'tokenizer.json': 'tokenizerJson',
  'vocab.txt': 'vocabTxt',
  'tokenizer_config.json': 'tokenizerConfig',
  'special_tokens_map.json': 'specialTokensMap',
};
const KEY_ALIASES = { tokenizer: 'tokenizerJson', vocab: 'vocabTxt' };

async function toBytes(value, name) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof Blob !== 'undefined' && value instanceof Blob) {
    try {
      return new Uint8Array(await value.arrayBuffer());
    } catch (e) {
      throw new BertError(`${name}: could not read the file: ${e?.message ?? e}`, 'bad-file', { cause: e });
    }
  }
  if (typeof value === 'string') return new TextEncoder().encode(value);
  if (value && typeof value === 'object' && name.endsWith('.json')) {
    return new TextEncoder().encode(JSON.stringify(value));
  }
  throw new BertError(`${name}: expected bytes (Uint8Array, ArrayBuffer, Blob or File) or text`, 'input');
}

/** The base name of a File (a directory picker gives "dir/config.json" in webkitRelativePath). */
const fileName = (f) => (f.webkitRelativePath || f.name || '').split('/').pop();

function isFileList(source) {
  if (typeof FileList !== 'undefined' && source instanceof FileList) return true;
  return Array.isArray(source) && source.every((f) => typeof Blob !== 'undefined' && f instanceof Blob);
}

/** Fetches one file of a model directory; `undefined` for an optional file that is not there. */
async function fetchFile(base, name, { optional = false, fetch: fetchFn = globalThis.fetch, signal } = {}) {
  const url = new URL(name, base);
  let response;
  try {
    response = await fetchFn(url, { signal });
  } catch (e) {
    if (e?.name === 'AbortError') throw new BertError(`${name}: fetch cancelled`, 'aborted', { cause: e });
    throw new BertError(`${name}: could not fetch ${url}: ${e?.message ?? e}`, 'network', { cause: e });
  }
  if (response.status === 404 && optional) return undefined;
  if (!response.ok) {
    throw new BertError(`${name}: HTTP ${response.status} ${response.statusText} from ${url}`, 'network');
  }
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * The bytes of a model directory (`{ config, weights, tokenizerJson?, vocabTxt?, ... }`) from any source
 * that Bert.load accepts. With `tokenizerOnly`, config.json and model.safetensors are not needed.
 */
/** Whether a source is a loaded model (a Bert), whose save() gives its files. */
const isModel = (source) => Boolean(source?.[Symbol.for('bert-wgpu.model')]);

export async function readModelFiles(source, { tokenizerOnly = false, fetch, signal, ...hub } = {}) {
  const out = {};
  if (isModel(source)) {
    return readModelFiles(await source.save(), { tokenizerOnly });
  }
  if (isHubId(source)) {
    Object.assign(out, await readHubModel(source, { fetch, signal, ...hub }));
  } else if (typeof source === 'string' || source instanceof URL) {
    const base = new URL(String(source), globalThis.location?.href);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    const get = (name, optional) => fetchFile(base, name, { optional, fetch, signal });
    // Fetched in parallel; when several fail, the error names the first in this order, whichever came back
    // first.
    const settled = await Promise.allSettled([
      tokenizerOnly ? undefined : get('config.json'),
      tokenizerOnly ? undefined : get('model.safetensors'),
      get('tokenizer_config.json', true),
      get('special_tokens_map.json', true),
      get('tokenizer.json', true),
      get('vocab.txt', true),
    ]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [config, weights, tokenizerConfig, specialTokensMap, tokenizerJson, vocabTxt] = settled.map((r) => r.value);
    if (!tokenizerJson && !vocabTxt) {
      throw new BertError(`tokenizer.json and vocab.txt: neither found (HTTP 404) under ${base}`, 'network');
    }
    Object.assign(out, { config, weights, tokenizerJson, vocabTxt, tokenizerConfig, specialTokensMap });
  } else if (isFileList(source)) {
    for (const file of source) {
      const key = FILE_KEYS[fileName(file)];
      if (key) out[key] = await toBytes(file, fileName(file));
    }
  } else if (source && typeof source === 'object') {
    const byName = Object.keys(source).some((k) => k in FILE_KEYS);
    for (const [k, v] of Object.entries(source)) {
      if (v === undefined || v === null) continue;
      const key = byName ? FILE_KEYS[k] : (KEY_ALIASES[k] ?? k);
      const name = Object.keys(FILE_KEYS).find((n) => FILE_KEYS[n] === key);
      if (!name) {
        throw new BertError(
          `model files: unknown entry ${JSON.stringify(k)} (expected config, weights, tokenizer, vocab, ` +
            'tokenizerConfig, specialTokensMap, or Hugging Face file names)',
          'input',
        );
      }
      out[key] = await toBytes(v, name);
    }
  } else {
    throw new BertError(
      'model source: expected a URL of a model directory, Files, or { config, weights, tokenizer } bytes',
      'input',
    );
  }
  if (!tokenizerOnly) {
    if (!out.config) throw new BertError('config.json is missing from the model files', 'bad-file');
    if (!out.weights) throw new BertError('model.safetensors is missing from the model files', 'bad-file');
  }
  if (!out.tokenizerJson && !out.vocabTxt) {
    throw new BertError('the model files have no tokenizer.json or vocab.txt', 'bad-file');
  }
  return out;
}
