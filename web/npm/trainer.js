// Trainer: pretraining (MLM + NSP) from text, or fine-tuning a task head on labelled rows, with host-side
// snapshots of the model being trained.

import * as wasm from './bert_wgpu.js';
import { BertError, fromInner, guarded, Lock } from './runtime.js';
import { readModelFiles } from './files.js';
import { Bert } from './bert.js';

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
