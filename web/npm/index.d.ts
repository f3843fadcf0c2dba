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
 * Where a model comes from: a Hugging Face hub id (`"bert-base-uncased"`, `"org/name"`: fetched from the hub
 * once, then from the browser's Cache API), the base URL of a Hugging Face model directory (a string that
 * starts with a scheme, `/`, `./` or `../`, or ends with `/`) (config.json, model.safetensors,
 * tokenizer.json or vocab.txt, optional tokenizer_config.json and special_tokens_map.json), Files (e.g. from
 * `<input type="file" multiple>` or a directory picker), files by role, files by name, or a loaded Bert.
 */
export type ModelSource = string | URL | FileList | Blob[] | ModelFileSet | Record<string, FileData> | Bert;

export interface LoadOptions {
  /** A fetch to use instead of globalThis.fetch (e.g. with credentials, or an Authorization header). */
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** With a hub id: the hub's address (default HUB_ENDPOINT; a mirror, or a stand-in in tests). */
  endpoint?: string;
  /** With a hub id: the branch, tag or commit hash (default "main"). */
  revision?: string;
  /** With a hub id: called as each file is found in the cache, downloaded (with bytes so far) and done. */
  progress?: (event: HubProgress) => void;
  /** With a hub id: keep the files in the browser's Cache API and read them from there (default true). */
  cache?: boolean;
}

/** A step of loading a hub model: `cached` (read from the cache), `download`, `progress`, `done`. */
export interface HubProgress {
  status: "cached" | "download" | "progress" | "done";
  /** The file's name in the repository, e.g. "model.safetensors". */
  file: string;
  /** Bytes received so far (progress, done). */
  loaded?: number;
  /** The file's size in bytes when the server says it (0 when unknown). */
  total?: number;
}

/** A hub model kept in the browser's Cache API. */
export interface CachedModel {
  id: string;
  revision: string;
  endpoint: string;
  /** The files kept (the repository's absent files are remembered too, but not listed). */
  files: string[];
  bytes: number;
}

/** The hub when LoadOptions.endpoint is not given: "https://huggingface.co". */
export const HUB_ENDPOINT: string;

/** Whether a string is a hub id (`name` or `org/name`) rather than the URL of a model directory. */
export function isHubId(source: string): boolean;

/** The hub models kept in the browser's Cache API, one entry per id, endpoint and revision. */
export function cachedModels(): Promise<CachedModel[]>;

/** Removes a hub model (every revision) from the browser's Cache API, or every model when no id is given. */
export function clearCache(id?: string): Promise<void>;

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

/** text-classification: one label and its score (softmax; the raw value for regression). */
export interface LabelScore {
  label: string;
  score: number;
}

/** token-classification (aggregation "simple"): consecutive tokens of one type grouped, "O" dropped. */
export interface Entity {
  /** The label without its B- / I- prefix. */
  entity_group: string;
  /** Mean of the group's token scores. */
  score: number;
  /** The group's tokens decoded ("walk ##ed" -> "walked"). */
  word: string;
  /** Character offsets in the text. */
  start: number;
  end: number;
}

/** question-answering: the best span of the context. */
export interface QaAnswer {
  /** p(start) * p(end). */
  score: number;
  /** Character offsets in the context. */
  start: number;
  end: number;
  answer: string;
}

/** A text, or a sentence pair, for a sequence-classification head. */
export type ClassifyInput = string | { text: string; text_pair?: string };
export interface QaInput {
  question: string;
  context: string;
}

export interface PredictOptions {
  /** Inputs per GPU batch (default 16). */
  batchSize?: number;
  /** QA: tokens per window of the context (default 384, at most the model's max_position_embeddings). */
  maxLength?: number;
  /** QA: tokens shared by consecutive windows (default 128, at most half a window). */
  docStride?: number;
  /** QA: the longest answer, in tokens (default 15). */
  maxAnswerLength?: number;
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
  /**
   * The loaded task head's pipeline, as transformers' pipelines and `bert-wgpu predict --json` give it:
   * BertForSequenceClassification: every label, best first; BertForTokenClassification: the entities;
   * BertForQuestionAnswering: the best answer (null when the context gives no span). A model without a task
   * head rejects with code "input".
   */
  predict(input: ClassifyInput, options?: PredictOptions): Promise<LabelScore[] | Entity[]>;
  predict(inputs: ClassifyInput[], options?: PredictOptions): Promise<LabelScore[][] | Entity[][]>;
  predict(input: QaInput, options?: PredictOptions): Promise<QaAnswer | null>;
  predict(inputs: QaInput[], options?: PredictOptions): Promise<(QaAnswer | null)[]>;
  /** The task head's label names (config.json's id2label, else LABEL_<i>); null without a task head. */
  labels(): Promise<string[] | null>;
  /** BertForPreTraining, BertForMaskedLM, BertModel, BertForSequenceClassification, BertForTokenClassification
   * or BertForQuestionAnswering. */
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
  /** Hold out every N-th document for `evaluate()`, never trained on (default 100, as the CLI; 0: none). */
  holdoutEvery?: number;
  /** Copy the model to host memory every N steps (default 50; 0: only when train() ends). */
  snapshotEvery?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** One labelled row for sequence classification. */
export interface LabelledRow {
  text: string;
  /** The second text of a sentence pair (task "pair-cls"). */
  text_pair?: string;
  /** A class name (or number); for regression a number. */
  label: string | number;
}

/**
 * Labelled rows: the text of a TSV file with a header (`label<TAB>text`, or text, text_pair, label columns in
 * any order), a File or Blob (.tsv, .csv with a header, or .jsonl, by its name), `{ text, name }` (the format
 * follows the name's extension), a URL object (fetched), or an array of rows (line N of an error is row N).
 */
export type RowsSource = string | Blob | File | URL | { text: string; name?: string } | LabelledRow[];

export interface FinetuneOptions {
  /** The model to fine-tune: a pretrained encoder (its pretraining heads are dropped) or a
   * BertForSequenceClassification. */
  model: ModelSource;
  /** Training rows. */
  train: RowsSource;
  /** Evaluation rows, scored after every epoch (StepMetrics.eval). */
  eval?: RowsSource;
  /** "seq-cls" (default: text, label) or "pair-cls" (text, text_pair, label). */
  task?: "seq-cls" | "pair-cls";
  /** Length of the schedule (default 3). */
  epochs?: number;
  /** Rows per step (default 32); batches are padded to their longest row. */
  batchSize?: number;
  /** Peak learning rate (default 5e-5). */
  lr?: number;
  /** Linear warmup over this share of the steps, then linear decay to 0 (default 0.1). */
  warmupRatio?: number;
  /** AdamW weight decay (default 0.01; not on biases and LayerNorm weights). */
  weightDecay?: number;
  /** Global gradient-norm clipping (default 1; 0: off). */
  clip?: number;
  /** Tokens per row, [CLS] and [SEP]s included (default 128, at most max_position_embeddings). */
  maxLength?: number;
  /** The label is a number to regress (one output, squared error). */
  regression?: boolean;
  /** Use only the first N training rows. */
  limit?: number;
  /** Use only the first N eval rows. */
  evalLimit?: number;
  /** Seeds the head's initialisation, the order of the rows and dropout (default 42). */
  seed?: number;
  /** Copy the model to host memory every N steps (default 0: only when train() ends). */
  snapshotEvery?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

/** The eval rows' metrics. */
export interface EvalMetrics {
  accuracy: number;
  macro_f1: number;
  loss: number;
  examples: number;
  /** Regression: mean squared error (instead of accuracy and macro_f1). */
  mse?: number;
}

export interface FinetuneStepMetrics {
  /** Optimizer steps taken so far (this one included). */
  step: number;
  /** Epochs so far, fractional (step / stepsPerEpoch). */
  epoch: number;
  /** Mean cross-entropy of the batch (squared error for regression). */
  loss: number;
  /** Share of the batch's rows predicted right (null for regression). */
  accuracy: number | null;
  /** Global gradient norm before clipping. */
  gradNorm: number | null;
  lr: number;
  /** Rows in the batch. */
  scored: number;
  /** Real tokens in the batch. */
  tokens: number;
  totalSteps: number;
  stepsPerEpoch: number;
  /** This step ends an epoch. */
  epochEnd: boolean;
  /** At the end of every epoch when there are eval rows. */
  eval?: EvalMetrics;
}

export interface FinetuneInfo {
  task: "seq-cls" | "pair-cls";
  step: number;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  batchSize: number;
  maxLength: number;
  trainExamples: number;
  trainFeatures: number;
  evalExamples: number | null;
  /** The head's labels, by id (null for regression). */
  labels: string[] | null;
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

/** Pretraining: the held-out documents scored now, as `bert-wgpu pretrain` logs them (no dropout, no update). */
export interface HeldOutMetrics {
  /** Optimizer steps taken so far. */
  step: number;
  /** mlmLoss + nspLoss */
  loss: number;
  mlmLoss: number;
  nspLoss: number;
  mlmAccuracy: number;
  nspAccuracy: number;
  maskedTokens: number;
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

export interface TrainOptions<M = StepMetrics> {
  /** Optimizer steps to run now. */
  steps?: number;
  /** Passes over the data to run now (instead of steps). Default: to the end of the schedule. */
  epochs?: number;
  /** Called (and awaited) after every step. */
  onProgress?: (metrics: M) => void | Promise<void>;
  /** Cancels between steps: train() rejects with a BertError named AbortError (code "aborted"). */
  signal?: AbortSignal;
  snapshotEvery?: number;
}

/**
 * A training run on this page's device. `Trainer.pretrain` gives a `Trainer` (StepMetrics, TrainerInfo);
 * `Trainer.finetune` a `Trainer<FinetuneStepMetrics, FinetuneInfo>`.
 */
export class Trainer<M = StepMetrics, I = TrainerInfo, E = HeldOutMetrics | null> {
  private constructor();
  /** Masked-LM + next-sentence pretraining from text, with `bert-wgpu pretrain`'s recipe and defaults. */
  static pretrain(options: PretrainOptions): Promise<Trainer<StepMetrics, TrainerInfo, HeldOutMetrics | null>>;
  /**
   * Fine-tuning a sequence-classification head on labelled rows, with `bert-wgpu finetune`'s recipe and
   * defaults. Bad rows reject with code "input" and a message naming the file and line ("train.tsv:7: ...").
   */
  static finetune(options: FinetuneOptions): Promise<Trainer<FinetuneStepMetrics, FinetuneInfo, EvalMetrics>>;
  /** The model being trained; its predictions (fillMask, predict) follow the training. */
  readonly model: Bert;
  /** Metrics of every step so far. */
  readonly history: M[];
  /** The last state copied to host memory: still there after the device is lost. */
  readonly snapshot: { step: number; files: ModelDirectory } | null;
  info(): Promise<I>;
  /** Pretraining: the first sequence of the last batch, with its masked, replaced and kept tokens (null when
   * fine-tuning). */
  lastBatch(): Promise<BatchView | null>;
  /** Fine-tuning: the eval rows' metrics now (rejects without eval rows). Pretraining: the held-out
   * documents' metrics now (null when nothing is held out). */
  evaluate(): Promise<E>;
  /** One optimizer step. Fine-tuning past the end of the schedule rejects with code "input". */
  step(): Promise<M>;
  train(options?: TrainOptions<M>): Promise<{ steps: number; last: M | null }>;
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

/** The model and batch whose matmul shapes are tuned or measured. */
export interface KernelShapeOptions {
  /** A model's config (as Bert.config() returns it) or a preset name (default "mini"). */
  config?: "tiny" | "mini" | "small" | "medium" | "base" | Record<string, unknown>;
  batch?: number;
  seq?: number;
  /** Masked positions per sequence (default 20; 0: no MLM head). */
  masked?: number;
  /** Include the backward products (default true). */
  training?: boolean;
  /** Only these candidates, by name (default: every candidate that runs here). */
  kernels?: string[];
  onProgress?: (p: { done: number; total: number; label: string }) => void;
}

export interface KernelChoices {
  /** The cache key: adapter, driver, package version, kernels' hash. */
  key: string;
  /** Shape classes tuned by this call (0 when all came from the cache). */
  tuned: number;
  cached: number;
  /** Choices read from IndexedDB before tuning. */
  fromCache: number;
  /** Candidates whose results differed from the portable kernel's, with why. */
  excluded: { kernel: string; why: string }[];
  /** Shape class -> kernel name. */
  choices: Record<string, string>;
}

/** Chooses the matmul kernels for a model's shapes on this adapter by measurement, once per adapter (kept in
 * IndexedDB). */
export function prepareKernels(options?: KernelShapeOptions): Promise<KernelChoices>;

/** Forgets the kernel choices kept in this browser profile. */
export function clearKernelChoices(): Promise<void>;

export interface MatmulRateRow {
  label: string;
  m: number;
  n: number;
  k: number;
  batch: number;
  /** [candidate, GFLOP/s, measured on the real shape (false: on the cut-down copy)]. */
  candidates: [string, number, boolean][];
  /** The chosen kernel and its GFLOP/s. */
  auto: [string, number];
}

/** Every candidate's GFLOP/s on a model's shapes, and auto's, as `bert-wgpu bench` prints them. */
export function matmulRates(options?: KernelShapeOptions & { reps?: number }): Promise<{ rows: MatmulRateRow[]; table: string[] }>;

/** A store-only zip of files (e.g. Bert.save()'s), each under `folder/` when given. */
export function zip(
  files: Record<string, Uint8Array | string> | [string, Uint8Array | string][],
  options?: { folder?: string; date?: Date },
): Uint8Array;
