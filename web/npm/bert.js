// Bert: a model on this page's (or worker's) WebGPU device, one call at a time.

import * as wasm from './bert_wgpu.js';
import { fromInner, guarded, Lock, withName } from './runtime.js';
import { readModelFiles } from './files.js';

/** A BERT model on this page's (or worker's) WebGPU device. */
export class Bert {
  #inner;
  #lock;

  /** Marks a loaded model for readModelFiles (which takes one as a source). */
  get [Symbol.for('bert-wgpu.model')]() {
    return true;
  }

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
