// Types of the bert-wgpu package (index.js). Every method returns a promise; every failure is a rejected
// promise with a BertError.

/** What kind of failure a BertError is. */
export type BertErrorCode =
  | "no-webgpu" // no navigator.gpu, no adapter, or no device
  | "network" // a model file could not be fetched (HTTP status, network error)
  | "bad-file" // a model file does not parse or does not match its config (e.g. truncated weights)
  | "input" // bad arguments: a text without [MASK], unknown options, bad rows
  | "limits" // the model or batch is larger than the adapter's limits
  | "device-lost" // the GPU device was lost; load again (a trainer's snapshot is still there)
  | "gpu" // any other GPU error
  | "busy" // another call on the same object is running
  | "aborted" // cancelled through an AbortSignal
  | "wasm" // the WebAssembly module could not be loaded
  | "internal"; // a bug: see the console

export class BertError extends Error {
  readonly code: BertErrorCode;
  constructor(message: string, code?: BertErrorCode, options?: { cause?: unknown });
}

/** Bytes of one file: Uint8Array, ArrayBuffer, a Blob/File, text, or (for .json files) an object. */
export type FileData = Uint8Array | ArrayBuffer | ArrayBufferView | Blob | string | object;

/** A model directory's files by role. A tokenizer (tokenizer.json or vocab.txt) is required. */
export interface ModelFileSet {
  /** config.json */
  config: FileData;
  /** model.safetensors */
  weights: FileData;
  /** tokenizer.json (alias: tokenizerJson) */
  tokenizer?: FileData;
  tokenizerJson?: FileData;
  /** vocab.txt (alias: vocabTxt) */
  vocab?: FileData;
  vocabTxt?: FileData;
  /** tokenizer_config.json */
  tokenizerConfig?: FileData;
  /** special_tokens_map.json */
  specialTokensMap?: FileData;
}

/** A model directory's files by Hugging Face file name, as Bert.save() returns them. */
export type ModelDirectory = Record<string, Uint8Array>;

/**
 * Where a model comes from: the base URL of a Hugging Face model directory (config.json, model.safetensors,
 * tokenizer.json or vocab.txt, optional tokenizer_config.json and special_tokens_map.json), Files (e.g. from
 * `<input type="file" multiple>` or a directory picker), files by role, files by name, or a loaded Bert.
 */
export type ModelSource = string | URL | FileList | Blob[] | ModelFileSet | Record<string, FileData> | Bert;

export interface LoadOptions {
  /** A fetch to use instead of globalThis.fetch (e.g. with credentials or a cache). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** One candidate for one [MASK], as transformers' fill-mask pipeline reports it. */
export interface FillMaskPrediction {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

export interface EmbedOptions {
  /** "mean" (default, as sentence-transformers) or "cls". */
  pooling?: "mean" | "cls";
  /** L2-normalise each vector (default false). */
  normalize?: boolean;
}

export interface AttentionMaps {
  /** The tokens of the text, [CLS] ... [SEP]. */
  tokens: string[];
  /** Segment (token type) id of each token. */
  segments: number[];
  layers: number;
  heads: number;
  /** attention[layer][head]: n x n probabilities, row = query token, column = key token; rows sum to 1. */
  attention: Float32Array[][];
}

export interface BertConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  layer_norm_eps: number;
  architectures?: string[];
  [field: string]: unknown;
}

export interface AdapterInfo {
  /** The adapter's name (WebGPU may leave it empty). */
  name: string;
  backend: string;
  deviceType: string;
  vendor: number;
  device: number;
  driver: string;
  driverInfo: string;
  /** Whether the subgroup matmul variant runs. */
  subgroupMatmul: boolean;
  features: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/** Loads the WebAssembly module; optional (every entry point calls it). Give another .wasm URL or Module. */
export function init(wasm?: string | URL | WebAssembly.Module | Response | BufferSource): Promise<void>;

/** Opens the WebGPU device (once per page or worker) and describes its adapter. */
export function adapterInfo(): Promise<AdapterInfo>;

/** The bytes of a model directory from any ModelSource. */
export function readModelFiles(
  source: ModelSource,
  options?: LoadOptions & { tokenizerOnly?: boolean },
): Promise<Record<string, Uint8Array>>;

export class Bert {
  private constructor();
  /** Loads a Hugging Face BERT directory (BertForPreTraining, BertForMaskedLM, BertModel, ...). */
  static load(source: ModelSource, options?: LoadOptions): Promise<Bert>;
  /** Top-k predictions for every [MASK] of a text: one list per mask, in order. */
  fillMask(text: string, options?: { topK?: number }): Promise<FillMaskPrediction[][]>;
  /** For several texts: one result per text. */
  fillMask(texts: string[], options?: { topK?: number }): Promise<FillMaskPrediction[][][]>;
  /** One vector per text. */
  embed(texts: string | string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Attention probabilities of every layer and head, for visualisation. */
  attention(text: string): Promise<AttentionMaps>;
  /** The files of a Hugging Face model directory (transformers and bert-wgpu load it). */
  save(options?: { dtype?: "f32" | "f16" }): Promise<ModelDirectory>;
  /** The tokens of a text as the model sees them. */
  tokenize(text: string): Promise<string[]>;
  config(): Promise<BertConfig>;
  /** BertForPreTraining, BertForMaskedLM or BertModel. */
  architecture(): Promise<string>;
  adapterInfo(): Promise<AdapterInfo>;
}

export interface PretrainOptions {
  /** The training text: one sentence a line, a blank line between documents. */
  text: string;
  /** A model to continue (needs MLM and NSP heads: BertForPreTraining). */
  model?: ModelSource;
  /** For a fresh model: where its tokenizer comes from (only the tokenizer files are read). */
  tokenizer?: ModelSource;
  /** For a fresh model: "tiny" (default), "mini", "small", "medium", "base", or config.json fields over tiny. */
  config?: "tiny" | "mini" | "small" | "medium" | "base" | Partial<BertConfig>;
  /** Sequences per micro-batch (default 8). */
  batchSize?: number;
  /** Tokens per sequence, [CLS] A [SEP] B [SEP], a multiple of 4 (default 128). */
  seqLen?: number;
  /** Masked positions per sequence at most (default 20). */
  maxPredictions?: number;
  /** Peak learning rate (default 1e-4). */
  lr?: number;
  /** Warmup steps (default 1% of the schedule). */
  warmup?: number;
  /** AdamW weight decay (default 0.01; not on biases and LayerNorm weights). */
  weightDecay?: number;
  /** Micro-batches per optimizer step (default 1). */
  accumulation?: number;
  /** "torch" (AdamW with bias correction, eps 1e-8; default) or "google" (BERT's AdamWeightDecay). */
  optimizer?: "torch" | "google";
  /** Seeds the initialisation, the data (segments, masks) and dropout (default 12345). */
  seed?: number;
  wholeWordMasking?: boolean;
  /** Probability of a shorter sequence (default 0.1). */
  shortSeqProb?: number;
  /** Length of the learning-rate schedule in optimizer steps (default: `epochs` passes, or one pass). */
  steps?: number;
  epochs?: number;
  /** Hold out every N-th document (default 0: none). */
  holdoutEvery?: number;
  /** Copy the model to host memory every N steps (default 50; 0: only when train() ends). */
  snapshotEvery?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export interface StepMetrics {
  /** Optimizer steps taken so far (this one included). */
  step: number;
  /** mlmLoss + nspLoss */
  loss: number;
  mlmLoss: number;
  nspLoss: number;
  mlmAccuracy: number;
  nspAccuracy: number;
  /** Global gradient norm before clipping. */
  gradNorm: number | null;
  lr: number;
  maskedTokens: number;
  /** Real tokens in this step's batches. */
  tokens: number;
  /** Passes over the text so far. */
  epoch: number;
  totalSteps: number;
}

export interface TrainerInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  instancesPerEpoch: number;
  documents: number;
  sentences: number;
  corpusTokens: number;
  heldOutDocuments: number;
  tokensSeen: number;
  batchSize: number;
  seqLen: number;
}

/** One token of a training sequence and what masking did to it. */
export interface BatchToken {
  token: string;
  /** 0 for [CLS] A [SEP], 1 for B [SEP]. */
  segment: number;
  /** "masked": replaced by [MASK] (80%), "random": by a random token (10%), "kept": left as is (10%). */
  kind?: "masked" | "random" | "kept";
  /** The token the model must predict at this position. */
  original?: string;
}

export interface BatchView {
  tokens: BatchToken[];
  /** B is a random span of another document (NSP label 1), not A's continuation. */
  isRandomNext: boolean;
}

export interface TrainOptions {
  /** Optimizer steps to run now. */
  steps?: number;
  /** Passes over the data to run now (instead of steps). Default: to the end of the schedule. */
  epochs?: number;
  /** Called (and awaited) after every step. */
  onProgress?: (metrics: StepMetrics) => void | Promise<void>;
  /** Cancels between steps: train() rejects with a BertError named AbortError (code "aborted"). */
  signal?: AbortSignal;
  snapshotEvery?: number;
}

export class Trainer {
  private constructor();
  /** Masked-LM + next-sentence pretraining from text, with `bert-wgpu pretrain`'s recipe and defaults. */
  static pretrain(options: PretrainOptions): Promise<Trainer>;
  /** The model being trained; its predictions follow the training. */
  readonly model: Bert;
  /** Metrics of every step so far. */
  readonly history: StepMetrics[];
  /** The last state copied to host memory: still there after the device is lost. */
  readonly snapshot: { step: number; files: ModelDirectory } | null;
  info(): Promise<TrainerInfo>;
  /** The first sequence of the last batch, with its masked, replaced and kept tokens. */
  lastBatch(): Promise<BatchView | null>;
  step(): Promise<StepMetrics>;
  train(options?: TrainOptions): Promise<{ steps: number; last: StepMetrics | null }>;
  takeSnapshot(): Promise<{ step: number; files: ModelDirectory }>;
  save(options?: { dtype?: "f32" | "f16" }): Promise<ModelDirectory>;
}

export interface BenchOptions {
  /** Model size with random weights (default "mini"). */
  preset?: "tiny" | "mini" | "small" | "medium" | "base";
  batch?: number;
  seq?: number;
  /** Masked positions per sequence in the training step (default 20). */
  masked?: number;
  /** Timed repetitions after a warm-up; the best counts (default 3). */
  reps?: number;
}

export interface BenchResult {
  adapter: AdapterInfo;
  preset: string;
  batch: number;
  seq: number;
  reps: number;
  forwardMs: number;
  forwardTokensPerSecond: number;
  trainStepMs: number;
  trainTokensPerSecond: number;
}

/** The browser twin of `bert-wgpu bench`: forward and training-step tokens/s on this adapter. */
export function bench(options?: BenchOptions): Promise<BenchResult>;

/** A store-only zip of files (e.g. Bert.save()'s), each under `folder/` when given. */
export function zip(
  files: Record<string, Uint8Array | string> | [string, Uint8Array | string][],
  options?: { folder?: string; date?: Date },
): Uint8Array;
