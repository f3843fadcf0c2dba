// Models by Hugging Face hub id in the browser: `Bert.load('org/name')` fetches
// `{endpoint}/{id}/resolve/{revision}/{file}` (the URLs transformers and bert-wgpu's command line use) and
// keeps every answer in the Cache API (cache "bert-wgpu-hub", keyed by that URL), so that a second load of
// the same id and revision asks the network nothing. `cachedModels()` lists what is kept, `clearCache()`
// removes it.

import { BertError } from './runtime.js';
import * as wasm from './bert_wgpu.js';
import { isHubId } from './hub-id.js';

export { isHubId };

/** The hub when no `endpoint` is given. */
export const HUB_ENDPOINT = 'https://huggingface.co';
const CACHE_NAME = 'bert-wgpu-hub';

const openCache = () => (globalThis.caches ? globalThis.caches.open(CACHE_NAME) : Promise.resolve(null));

function resolveUrl(endpoint, id, revision, file) {
  return `${endpoint.replace(/\/+$/, '')}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/** The body of a response, reporting `{ status: 'progress', file, loaded, total }` as it arrives. */
async function readBody(response, file, progress) {
  const total = Number(response.headers.get('Content-Length')) || 0;
  if (!response.body || !progress) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    progress({ status: 'progress', file, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/**
 * One file of a repository: from the cache, else fetched (and kept). `undefined` for a file the repository
 * does not have (its 404 is kept too, so that it is not asked again).
 */
async function hubFile(id, file, { endpoint, revision, fetch: fetchFn, signal, progress, cache }) {
  const url = resolveUrl(endpoint, id, revision, file);
  const cached = cache ? await cache.match(url) : undefined;
  if (cached) {
    progress?.({ status: 'cached', file });
    return cached.status === 404 ? undefined : new Uint8Array(await cached.arrayBuffer());
  }
  let response;
  try {
    response = await fetchFn(url, { signal });
  } catch (e) {
    if (e?.name === 'AbortError') throw new BertError(`${id}/${file}: fetch cancelled`, 'aborted', { cause: e });
    throw new BertError(`model ${id}: could not fetch ${url}: ${e?.message ?? e}`, 'network', { cause: e });
  }
  if (response.status === 401 || response.status === 403) {
    throw new BertError(
      `model ${id}: ${endpoint} answered ${response.status} for ${file}: the model does not exist, or it is ` +
        'private or gated (pass a `fetch` that adds an Authorization header)',
      'network',
    );
  }
  const tags = { 'X-Bert-Wgpu-Model': JSON.stringify({ endpoint, id, revision, file }) };
  if (response.status === 404) {
    if (cache && file !== 'config.json') await cache.put(url, new Response(null, { status: 404, headers: tags }));
    return undefined;
  }
  if (!response.ok) {
    throw new BertError(`model ${id}: HTTP ${response.status} ${response.statusText} from ${url}`, 'network');
  }
  progress?.({ status: 'download', file });
  const bytes = await readBody(response, file, progress);
  if (cache) {
    const headers = { ...tags, 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) };
    await cache.put(url, new Response(bytes, { headers }));
  }
  progress?.({ status: 'done', file, loaded: bytes.length, total: bytes.length });
  return bytes;
}

/**
 * The files of a hub model by role (`{ config, weights, tokenizerJson, vocabTxt, ... }`, as readModelFiles
 * gives them). Sharded weights (`model.safetensors.index.json`) are fetched shard by shard and joined.
 */
export async function readHubModel(
  id,
  { endpoint = HUB_ENDPOINT, revision = 'main', fetch = globalThis.fetch, signal, progress, cache = true } = {},
) {
  const store = cache ? await openCache() : null;
  const options = { endpoint, revision, fetch, signal, progress, cache: store };
  const get = (file) => hubFile(id, file, options);
  const config = await get('config.json');
  if (!config) {
    throw new BertError(
      `model ${id}: no config.json at revision ${JSON.stringify(revision)} on ${endpoint} (no such model or ` +
        'revision, or not a transformers model)',
      'network',
    );
  }
  const [weights, tokenizerJson, vocabTxt, tokenizerConfig, specialTokensMap] = await Promise.all(
    ['model.safetensors', 'tokenizer.json', 'vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'].map(get),
  );
  const files = { config, weights, tokenizerJson, vocabTxt, tokenizerConfig, specialTokensMap };
  if (!weights) files.weights = await shardedWeights(id, get, endpoint);
  if (!tokenizerJson && !vocabTxt) {
    throw new BertError(`model ${id}: the repository has neither tokenizer.json nor vocab.txt`, 'bad-file');
  }
  return files;
}

async function shardedWeights(id, get, endpoint) {
  const index = await get('model.safetensors.index.json');
  if (!index) {
    throw new BertError(
      `model ${id}: no model.safetensors (nor model.safetensors.index.json) on ${endpoint}; bert-wgpu reads ` +
        'safetensors only (convert a pytorch_model.bin with transformers: from_pretrained, then save_pretrained)',
      'bad-file',
    );
  }
  let names;
  try {
    names = wasm.shardFiles(index);
  } catch (e) {
    throw new BertError(`model ${id}: ${e.message}`, 'bad-file', { cause: e });
  }
  const shards = await Promise.all(names.map(get));
  const missing = names.find((_, i) => !shards[i]);
  if (missing) throw new BertError(`model ${id}: the index names the shard ${missing}, which is missing`, 'bad-file');
  return wasm.mergeSafetensors(names, shards);
}

/** The cached responses with what they are: `[request, response, { endpoint, id, revision, file }]`. */
async function cachedEntries(store) {
  const entries = [];
  for (const request of await store.keys()) {
    const response = await store.match(request);
    try {
      entries.push([request, response, JSON.parse(response.headers.get('X-Bert-Wgpu-Model'))]);
    } catch {
      // not an entry of this module
    }
  }
  return entries;
}

/**
 * What the cache holds: one entry per model and revision (`{ id, revision, endpoint, files, bytes }`), with
 * the files it has and their size in bytes.
 */
export async function cachedModels() {
  const store = await openCache();
  if (!store) return [];
  const models = new Map();
  for (const [, response, { endpoint, id, revision, file }] of await cachedEntries(store)) {
    const key = JSON.stringify([endpoint, id, revision]);
    if (!models.has(key)) models.set(key, { id, revision, endpoint, files: [], bytes: 0 });
    if (response.status !== 200) continue;
    const model = models.get(key);
    model.files.push(file);
    model.bytes += Number(response.headers.get('Content-Length')) || 0;
  }
  return [...models.values()];
}

/** Removes one model (every revision) from the cache, or everything when no id is given. */
export async function clearCache(id) {
  const store = await openCache();
  if (!store) return;
  if (id === undefined) {
    await globalThis.caches.delete(CACHE_NAME);
    return;
  }
  for (const [request, , model] of await cachedEntries(store)) {
    if (model.id === id) await store.delete(request);
  }
}
