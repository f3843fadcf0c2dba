// bert-wgpu: BERT inference, pretraining and fine-tuning in WebGPU compute shaders (WGSL), from Rust
// compiled to WebAssembly. This module is the package's public API, a thin layer over the wasm-bindgen
// classes in ./bert_wgpu.js: it fetches or reads model directories, turns every failure into a rejected
// promise with a BertError (message + code), runs one call at a time per model, and keeps host-side
// snapshots of a model being trained. Nothing is fetched but the URLs the caller gives, the files of a hub
// id it gives (hub.js), and the package's own .wasm next to this file (or the URL given to init()).

import initWasm, * as wasm from './bert_wgpu.js';
import { zip } from './zip.js';
import { cachedModels, clearCache, HUB_ENDPOINT, isHubId, readHubModel } from './hub.js';

export { zip, cachedModels, clearCache, HUB_ENDPOINT, isHubId };

/** An error of this package: `code` says what kind ("no-webgpu", "network", "bad-file", "input", "limits",
 * "device-lost", "gpu", "busy", "aborted", "wasm", "internal"). */
export class BertError extends Error {
  constructor(message, code = 'internal', options) {
    super(message, options);
    this.name = code === 'aborted' ? 'AbortError' : 'BertError';
    this.code = code;
  }
}

const NO_WEBGPU =
  'WebGPU is not available here (navigator.gpu is missing): use a recent Chrome, Edge or Safari, or a browser ' +
  'with WebGPU enabled, on a page served over https or from localhost';

function toBertError(e) {
  if (e instanceof BertError) return e;
  const message = e?.message ?? String(e);
  if (e instanceof WebAssembly.RuntimeError) {
    return new BertError(`bert-wgpu crashed (${message}); see the console, and reload the page`, 'internal', {
      cause: e,
    });
  }
  return new BertError(message, e?.code ?? 'internal', { cause: e });
}

let ready = null;

/**
 * Loads the WebAssembly module (once). Called by every entry point; call it yourself to give another URL or
 * a compiled WebAssembly.Module for the .wasm file.
 */
export function init(wasmSource) {
  ready ??= (async () => {
    if (typeof navigator === 'undefined' || !navigator.gpu) throw new BertError(NO_WEBGPU, 'no-webgpu');
    try {
      await initWasm(wasmSource === undefined ? undefined : { module_or_path: wasmSource });
    } catch (e) {
      throw new BertError(`could not load the bert-wgpu WebAssembly module: ${e?.message ?? e}`, 'wasm', {
        cause: e,
      });
    }
  })();
  const attempt = ready;
  attempt.catch(() => {
    if (ready === attempt) ready = null; // a later call may try again
  });
  return attempt;
}

/** Runs `fn` after the module is ready, converting failures to BertError. */
async function guarded(fn) {
  await init();
  try {
    return await fn();
  } catch (e) {
    // A readback can fail before the browser reports the lost device: give the report a moment.
    if (e?.code === 'gpu') {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const reason = wasm.deviceLost();
      if (reason) {
        throw new BertError(`the GPU device was lost (${reason}); load the model again. Underlying error: ${e.message}`, 'device-lost', {
          cause: e,
        });
      }
    }
    throw toBertError(e);
  }
}

/** One call at a time on a model (and on the trainer that updates it). */
class Lock {
  #tail = Promise.resolve();
  run(fn) {
    const result = this.#tail.then(() => guarded(fn));
    this.#tail = result.catch(() => {});
    return result;
  }
}

/** wgpu leaves the adapter's name empty on WebGPU: the browser's GPUAdapterInfo fills it in. */
async function withName(info) {
  if (info.name) return info;
  try {
    const i = (await navigator.gpu.requestAdapter())?.info;
    const name = i ? [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') : '';
    return { ...info, name: i?.isFallbackAdapter ? `${name} (fallback adapter)` : name };
  } catch {
    return info;
  }
}

/** Opens the WebGPU device (once per page or worker) and describes its adapter. */
export function adapterInfo() {
  return guarded(async () => withName(await wasm.openDevice()));
}

// ---- model files --------------------------------------------------------------------------------------

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
export async function readModelFiles(source, { tokenizerOnly = false, fetch, signal, ...hub } = {}) {
  const out = {};
  if (source instanceof Bert) {
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

// ---- Bert ---------------------------------------------------------------------------------------------

const fromInner = Symbol('bert-wgpu inner');

/** A BERT model on this page's (or worker's) WebGPU device. */
export class Bert {
  #inner;
  #lock;

  /** Use Bert.load(); a trainer's model comes from `trainer.model`. */
  constructor(token, inner, lock) {
    if (token !== fromInner) throw new TypeError('use Bert.load(source) to make a Bert');
    this.#inner = inner;
    this.#lock = lock ?? new Lock();
  }

  /**
   * Loads a Hugging Face model directory: a base URL (config.json, model.safetensors, tokenizer.json or
   * vocab.txt, and tokenizer_config.json / special_tokens_map.json when present), Files (e.g. from
   * <input type=file multiple>), `{ config, weights, tokenizer | vocab, ... }` bytes, or the output of save().
   */
  static async load(source, options = {}) {
    const files = await guarded(() => readModelFiles(source, options));
    const inner = await guarded(() => wasm.Bert.load(files));
    return new Bert(fromInner, inner);
  }

  /** Top-k predictions for every [MASK]: one list per mask (for an array of texts, one such list per text). */
  fillMask(text, { topK = 5 } = {}) {
    return this.#lock.run(async () => {
      const out = await this.#inner.fillMask(text, { topK });
      return typeof text === 'string' ? out.masks[0] : out.masks;
    });
  }

  /** One vector per text; pooling "mean" (default) or "cls", L2-normalised when `normalize`. */
  embed(texts, { pooling = 'mean', normalize = false } = {}) {
    return this.#lock.run(() => this.#inner.embed(texts, { pooling, normalize }));
  }

  /** Attention probabilities of one text: `attention[layer][head]` is n x n (query row, key column). */
  attention(text) {
    return this.#lock.run(() => this.#inner.attention(String(text)));
  }

  /** The files of a Hugging Face model directory, by file name; `{ dtype: "f16" }` halves the weights. */
  save({ dtype = 'f32' } = {}) {
    return this.#lock.run(() => this.#inner.save({ dtype }));
  }

  /** The tokens of a text as the model sees them ([CLS] ... [SEP]). */
  tokenize(text) {
    return this.#lock.run(() => this.#inner.tokenize(String(text)));
  }

  /** config.json as an object. */
  config() {
    return this.#lock.run(() => this.#inner.config());
  }

  /** transformers' class for this model's heads: BertForPreTraining, BertForMaskedLM or BertModel. */
  architecture() {
    return this.#lock.run(() => this.#inner.architecture());
  }

  /**
   * The task head's pipeline, in transformers' JSON shapes: text-classification (a text or
   * `{ text, text_pair }`: every label with its score, best first), token-classification (a text: its
   * entities) or question-answering (`{ question, context }`: the best answer or null). One input gives one
   * result; an array gives one result per input.
   */
  predict(inputs, options = {}) {
    return this.#lock.run(() => this.#inner.predict(inputs, options));
  }

  /** The task head's label names (config.json's id2label), or null for a model without a task head. */
  labels() {
    return this.#lock.run(() => this.#inner.labels());
  }

  /** The adapter the model runs on: name, backend, limits. */
  adapterInfo() {
    return this.#lock.run(() => withName(this.#inner.adapterInfo()));
  }
}

// ---- Trainer ------------------------------------------------------------------------------------------

const TRAIN_ONLY = ['snapshotEvery', 'model', 'tokenizer', 'text', 'fetch', 'signal'];
const FINETUNE_ONLY = ['snapshotEvery', 'model', 'train', 'eval', 'fetch', 'signal'];

/**
 * Labelled rows as `{ text, name }` for the library's reader, whose format follows the name's extension
 * (.tsv or .csv with a header row, .jsonl): a string (the text of a TSV file), a File or Blob (its name, or
 * `fallback`), `{ text, name }`, a URL object (fetched), or an array of `{ text, text_pair?, label }` rows
 * (as JSON lines: line N of an error is row N).
 */
async function readRows(source, fallback, { fetch: fetchFn = globalThis.fetch, signal } = {}) {
  const what = `${fallback.split('.')[0]} rows`;
  if (typeof source === 'string') return { text: source, name: `${fallback}.tsv` };
  if (source instanceof URL) {
    const name = decodeURIComponent(source.pathname.split('/').pop() || `${fallback}.tsv`);
    let response;
    try {
      response = await fetchFn(source, { signal });
    } catch (e) {
      throw new BertError(`${name}: could not fetch ${source}: ${e?.message ?? e}`, 'network', { cause: e });
    }
    if (!response.ok) throw new BertError(`${name}: HTTP ${response.status} ${response.statusText} from ${source}`, 'network');
    return { text: await response.text(), name };
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = source.name || `${fallback}.tsv`;
    try {
      return { text: await source.text(), name };
    } catch (e) {
      throw new BertError(`${name}: could not read the file: ${e?.message ?? e}`, 'bad-file', { cause: e });
    }
  }
  if (Array.isArray(source)) {
    const lines = source.map((row, i) => {
      if (!row || typeof row !== 'object' || Array.isArray(row)) {
        throw new BertError(`${what}[${i}]: expected an object { text, text_pair?, label }`, 'input');
      }
      return JSON.stringify(row);
    });
    return { text: lines.join('\n'), name: `${fallback}-rows.jsonl` };
  }
  if (source && typeof source === 'object' && typeof source.text === 'string') {
    return { text: source.text, name: String(source.name ?? `${fallback}.tsv`) };
  }
  throw new BertError(
    `${what}: expected TSV text, a File, { text, name }, a URL object or an array of { text, text_pair?, label }`,
    'input',
  );
}

/** Training on this page's device: pretraining (MLM + NSP) from text, or fine-tuning a classifier on rows. */
export class Trainer {
  #session;
  #lock = new Lock();
  #model;
  #snapshot = null;
  #snapshotEvery;
  #history = [];

  constructor(token, session, snapshotEvery) {
    if (token !== fromInner) throw new TypeError('use Trainer.pretrain(options) or Trainer.finetune(options)');
    this.#session = session;
    this.#snapshotEvery = snapshotEvery;
    this.#model = new Bert(fromInner, session.model(), this.#lock);
  }

  /**
   * Pretraining with the original recipe (15% of tokens chosen, 80/10/10, at most maxPredictions per
   * sequence; next sentence prediction 50/50) on `text` (one sentence a line, a blank line between
   * documents). Continue a model (`model`: a Bert or any Bert.load source with MLM and NSP heads), or start
   * a fresh one (`config`: "tiny", "mini", ... or config.json fields) with the tokenizer of `tokenizer`
   * (any Bert.load source; only its tokenizer files are read). Defaults as `bert-wgpu pretrain`.
   */
  static async pretrain(options = {}) {
    const { model, tokenizer, text, snapshotEvery = 50 } = options;
    if (typeof text !== 'string') throw new BertError('Trainer.pretrain: `text` (a string) is required', 'input');
    if (!model && !tokenizer) {
      throw new BertError('Trainer.pretrain: give `model` to continue, or `tokenizer` (and `config`) for a fresh model', 'input');
    }
    const rest = Object.fromEntries(Object.entries(options).filter(([k]) => !TRAIN_ONLY.includes(k)));
    const fetchOptions = { fetch: options.fetch, signal: options.signal };
    const modelFiles = model ? await guarded(() => readModelFiles(model, fetchOptions)) : undefined;
    const tokenizerFiles =
      !model && tokenizer ? await guarded(() => readModelFiles(tokenizer, { ...fetchOptions, tokenizerOnly: true })) : undefined;
    const session = await guarded(() => wasm.PretrainSession.create(modelFiles, tokenizerFiles, text, rest));
    return new Trainer(fromInner, session, snapshotEvery);
  }

  /**
   * Fine-tuning with `bert-wgpu finetune`'s recipe and defaults: a sequence-classification head on `model`
   * (a Bert or any Bert.load source: a pretrained encoder, whose pretraining heads are dropped, or a
   * BertForSequenceClassification) trained on `train` rows (TSV text with a header `label<TAB>text`, a
   * File, `{ text, name }` or an array of `{ text, text_pair?, label }`), the `eval` rows scored after every
   * epoch. A bad row rejects with a message naming its file and line.
   */
  static async finetune(options = {}) {
    const { model, train, eval: evalRows, snapshotEvery = 0 } = options;
    if (!model) throw new BertError('Trainer.finetune: `model` (the encoder to fine-tune) is required', 'input');
    if (train === undefined || train === null) {
      throw new BertError('Trainer.finetune: `train` (labelled rows) is required', 'input');
    }
    const rest = Object.fromEntries(Object.entries(options).filter(([k]) => !FINETUNE_ONLY.includes(k)));
    const fetchOptions = { fetch: options.fetch, signal: options.signal };
    const trainFile = await guarded(() => readRows(train, 'train', fetchOptions));
    const evalFile = evalRows === undefined || evalRows === null ? undefined : await guarded(() => readRows(evalRows, 'eval', fetchOptions));
    const modelFiles = await guarded(() => readModelFiles(model, fetchOptions));
    const session = await guarded(() =>
      wasm.FinetuneSession.create(modelFiles, trainFile.text, trainFile.name, evalFile?.text, evalFile?.name, rest),
    );
    return new Trainer(fromInner, session, snapshotEvery);
  }

  /** The model being trained (its predictions follow the training). */
  get model() {
    return this.#model;
  }

  /** Metrics of every step taken so far. */
  get history() {
    return this.#history.slice();
  }

  /** The last state copied to host memory `{ step, files }` (every snapshotEvery steps and when train()
   * ends): what is left to save after the device is lost. */
  get snapshot() {
    return this.#snapshot;
  }

  /** `{ step, totalSteps, epoch, instancesPerEpoch, documents, sentences, corpusTokens, tokensSeen, ... }`. */
  info() {
    return this.#lock.run(() => this.#session.info());
  }

  /** The first sequence of the last training batch, token by token, with what masking did to it (pretraining
   * only; null when fine-tuning). */
  lastBatch() {
    return this.#lock.run(() => this.#session.lastBatch?.() ?? null);
  }

  /** Fine-tuning: the eval rows' metrics now (`{ accuracy, macro_f1, loss, examples }`). Pretraining: the
   * held-out documents' (`{ step, loss, mlmLoss, nspLoss, mlmAccuracy, nspAccuracy, maskedTokens }`, null
   * when nothing is held out). */
  evaluate() {
    return this.#lock.run(() => this.#session.evaluate());
  }

  /** One optimizer step; resolves to its metrics (loss, mlmLoss, nspLoss, accuracies, lr, gradNorm, ...). */
  async step() {
    const metrics = await this.#lock.run(() => this.#session.step());
    this.#history.push(metrics);
    return metrics;
  }

  /** Copies the model to host memory now (see `snapshot`). */
  async takeSnapshot() {
    const { step } = await this.info();
    this.#snapshot = { step, files: await this.#model.save() };
    return this.#snapshot;
  }

  /**
   * Runs `steps` optimizer steps, or `epochs` passes over the data, or up to the end of the schedule.
   * `onProgress(metrics)` after each step (awaited); `signal` (an AbortSignal) cancels between steps with
   * an AbortError. Resolves to `{ steps, last }`.
   */
  async train({ steps, epochs, onProgress, signal, snapshotEvery = this.#snapshotEvery } = {}) {
    const info = await this.info();
    let todo;
    if (steps !== undefined) todo = steps;
    else if (epochs !== undefined && info.stepsPerEpoch !== undefined) todo = Math.round(epochs * info.stepsPerEpoch);
    else if (epochs !== undefined) todo = Math.ceil((epochs * info.instancesPerEpoch) / info.batchSize);
    else todo = info.totalSteps - info.step;
    if (!Number.isInteger(todo) || todo < 0) {
      throw new BertError(`train: the number of steps must be a whole number >= 0, not ${todo}`, 'input');
    }
    let last = null;
    for (let i = 0; i < todo; i++) {
      if (signal?.aborted) {
        await this.takeSnapshot();
        throw new BertError(`training cancelled after ${i} step(s), at step ${last?.step ?? info.step}`, 'aborted');
      }
      last = await this.step();
      if (snapshotEvery > 0 && last.step % snapshotEvery === 0) await this.takeSnapshot();
      if (onProgress) await onProgress(last);
    }
    if (todo > 0) await this.takeSnapshot();
    return { steps: todo, last };
  }

  /** The files of the trained model's Hugging Face directory (see Bert.save). */
  save(options) {
    return this.#model.save(options);
  }
}

// ---- matmul kernels chosen by measurement -------------------------------------------------------------

const KERNEL_DB = 'bert-wgpu';
const KERNEL_STORE = 'matmul-tuning';

/** One request on the kernel-choice store; null (and no cache) where IndexedDB is missing or refused. */
function kernelStore(mode, request) {
  return new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') return resolve(null);
    const open = indexedDB.open(KERNEL_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(KERNEL_STORE);
    open.onerror = () => resolve(null);
    open.onsuccess = () => {
      const db = open.result;
      try {
        const r = request(db.transaction(KERNEL_STORE, mode).objectStore(KERNEL_STORE));
        r.onsuccess = () => {
          db.close();
          resolve(r.result ?? null);
        };
        r.onerror = () => {
          db.close();
          resolve(null);
        };
      } catch {
        db.close();
        resolve(null);
      }
    };
  });
}

/** The wasm arguments of prepareKernels and matmulRates: the shape options (defaults filled in) and the
 * progress callback. */
function shapeArgs({ config = 'mini', batch = 8, seq = 128, masked = 20, training = true, kernels, onProgress }, extra = {}) {
  const options = { config, batch, seq, masked, training, ...extra };
  if (kernels) options.kernels = kernels;
  return [options, onProgress && ((done, total, label) => onProgress({ done, total, label }))];
}

/**
 * Chooses the matmul kernel of every shape class of a model on this adapter by measurement, as the CLI does
 * at model load: candidates are checked against the portable kernel, then timed on the model's shapes, and
 * the quickest correct one wins per class. The choices are kept in IndexedDB (database "bert-wgpu"), keyed by
 * adapter, driver, package version and the kernels' hash, so later calls on the same adapter only read them.
 * Resolves to `{ key, tuned, cached, fromCache, excluded, choices }`.
 */
export function prepareKernels(options = {}) {
  return guarded(async () => {
    const info = await withName(await wasm.openDevice());
    const key = `${info.name} | ${await wasm.matmulCacheKey()}`;
    const stored = await kernelStore('readonly', (store) => store.get(key));
    const fromCache = stored ? await wasm.useMatmulChoices(stored) : 0;
    const result = await wasm.tuneMatmul(...shapeArgs(options));
    if (result.tuned > 0) await kernelStore('readwrite', (store) => store.put(result.choices, key));
    return { ...result, key, fromCache };
  });
}

/** Forgets every kernel choice kept in this browser profile (the next prepareKernels tunes again). */
export function clearKernelChoices() {
  return kernelStore('readwrite', (store) => store.clear()).then(() => undefined);
}

/**
 * Every matmul candidate's GFLOP/s on a model's shapes, and auto's (the choices as they stand), as
 * `bert-wgpu bench` prints them: `{ rows, table }`, `table` being the CLI's lines.
 */
export function matmulRates({ reps = 2, ...options } = {}) {
  return guarded(() => wasm.matmulRates(...shapeArgs(options, { reps })));
}

/**
 * The browser twin of `bert-wgpu bench`: `{ adapter, forwardTokensPerSecond, trainTokensPerSecond, ... }`
 * for a preset with random weights (default mini, batch 8 x 128).
 */
export function bench(options = {}) {
  return guarded(async () => {
    const result = await wasm.bench(options);
    return { ...result, adapter: await withName(result.adapter) };
  });
}
