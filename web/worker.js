// The demo's Web Worker: every model, WebGPU call and training step runs here, so the page stays responsive.
//
// Messages in: { id, op, args }. Out: { id, result } | { id, error: { message, code, name } } for a call,
// and { id, progress } while a training run goes on.

// Remember the devices the package opens, for the page's "lose the device" check (tests use it to show
// what happens when a GPU is lost mid-training). Installed before the package opens any device.
const devices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
}

const api = await import('./pkg/index.js');
const { Bert, Trainer, zip, adapterInfo, bench, prepareKernels, matmulRates } = api;

const state = {
  modelUrl: null, // a model directory's URL or a hub id
  loadOptions: {}, // { endpoint, progress } for a hub id
  pretrained: null, // the loaded model (fill-mask, attention)
  trainer: null, // the model being pretrained ("watch it learn")
  finetuner: null, // the classifier being fine-tuned
  controller: null, // aborts the running training
};

/** The loaded model, loaded again after a lost device. */
async function pretrained() {
  state.pretrained ??= Bert.load(state.modelUrl, state.loadOptions);
  try {
    return await state.pretrained;
  } catch (e) {
    state.pretrained = null;
    throw e;
  }
}

/** The trainer of a model: "trained" (pretrained here) or "finetuned". */
function trainerOf(which) {
  return which === 'finetuned' ? state.finetuner : which === 'trained' ? state.trainer : null;
}

/** The model an op is about: "pretrained" (loaded), "trained" (pretrained here) or "finetuned". */
async function model(which) {
  if (which === 'trained' || which === 'finetuned') {
    const trainer = trainerOf(which);
    if (!trainer) {
      const what = which === 'trained' ? 'no model has been trained yet: start "watch it learn"' : 'no classifier has been fine-tuned yet: start fine-tuning';
      throw Object.assign(new Error(what), { code: 'input' });
    }
    return trainer.model;
  }
  return pretrained();
}

/** Fine-tuning a classification head on the loaded model: progress (metrics, eval per epoch) after every step. */
async function finetune(id, { train, eval: evalRows, options }) {
  if (state.controller) throw Object.assign(new Error('a training run is already going on'), { code: 'busy' });
  const controller = new AbortController();
  state.controller = controller;
  try {
    const trainer = await Trainer.finetune({ model: await pretrained(), train, eval: evalRows, ...options });
    state.finetuner = trainer;
    const info = await trainer.info();
    self.postMessage({ id, progress: { info } });
    const result = await trainer.train({
      signal: controller.signal,
      onProgress: (metrics) => self.postMessage({ id, progress: { metrics } }),
    });
    return { steps: result.steps, last: result.last, info: await trainer.info() };
  } finally {
    state.controller = null;
  }
}

/** A training run: progress after every step, probe predictions and the batch every few steps. */
async function pretrain(id, { text, options, probe, probeEvery = 10, batchEvery = 5 }) {
  if (state.controller) throw Object.assign(new Error('a training run is already going on'), { code: 'busy' });
  const controller = new AbortController();
  state.controller = controller;
  try {
    state.trainer = null;
    const trainer = await Trainer.pretrain({ tokenizer: await pretrained(), text, snapshotEvery: 10, ...options });
    state.trainer = trainer;
    const info = await trainer.info();
    self.postMessage({ id, progress: { info } });
    const probePredictions = async (step) => {
      if (!probe) return undefined;
      return { step, predictions: await trainer.model.fillMask(probe, { topK: 3 }) };
    };
    self.postMessage({ id, progress: { probe: await probePredictions(0) } });
    const result = await trainer.train({
      signal: controller.signal,
      onProgress: async (metrics) => {
        const progress = { metrics };
        if (metrics.step % batchEvery === 1 || batchEvery === 1) progress.batch = await trainer.lastBatch();
        if (metrics.step % probeEvery === 0 || metrics.step === metrics.totalSteps) {
          progress.probe = await probePredictions(metrics.step);
        }
        self.postMessage({ id, progress });
      },
    });
    return { steps: result.steps, info: await trainer.info() };
  } finally {
    state.controller = null;
  }
}

/** A zip of a model's Hugging Face directory; the trainer's snapshot when the device is gone. */
async function download(which) {
  const folder = { trained: 'bert-wgpu-trained', finetuned: 'bert-wgpu-classifier' }[which] ?? 'bert-wgpu-model';
  let files;
  let note = '';
  try {
    files = await (await model(which)).save();
  } catch (e) {
    const snapshot = trainerOf(which)?.snapshot;
    if (!snapshot) throw e;
    files = snapshot.files;
    note = `the live model is unavailable (${e.message}); this is the copy of step ${snapshot.step}`;
  }
  const bytes = zip(files, { folder });
  return { bytes, name: `${folder}.zip`, files: Object.keys(files), note };
}

const ops = {
  async init({ modelUrl, endpoint }, id) {
    state.modelUrl = modelUrl;
    state.loadOptions = { endpoint, progress: (p) => self.postMessage({ id, progress: p }) };
    const info = await adapterInfo();
    const bert = await pretrained();
    return { info, config: await bert.config(), architecture: await bert.architecture() };
  },
  async fillMask({ which, text, topK }) {
    return (await model(which)).fillMask(text, { topK });
  },
  async embed({ which, texts, options }) {
    return (await model(which)).embed(texts, options);
  },
  async attention({ which, text }) {
    return (await model(which)).attention(text);
  },
  async predict({ which, inputs }) {
    return (await model(which)).predict(inputs);
  },
  pretrain: (args, id) => pretrain(id, args),
  finetune: (args, id) => finetune(id, args),
  async stop() {
    state.controller?.abort();
    return { stopping: Boolean(state.controller) };
  },
  download: ({ which }) => download(which),
  bench: (options) => bench(options),
  prepareKernels: (options) => prepareKernels(options),
  matmulRates: (options) => matmulRates(options),
  async loseDevice() {
    for (const d of devices) d.destroy();
    return { destroyed: devices.length };
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    const fn = ops[op];
    if (!fn) throw new Error(`unknown operation ${op}`);
    const result = await fn(args ?? {}, id);
    const transfer = result?.bytes instanceof Uint8Array ? [result.bytes.buffer] : [];
    self.postMessage({ id, result }, transfer);
  } catch (e) {
    if (e?.code === 'device-lost') state.pretrained = null; // the next call loads it on a new device
    const snapshotStep = (op === 'finetune' ? state.finetuner : state.trainer)?.snapshot?.step;
    self.postMessage({ id, error: { message: e?.message ?? String(e), code: e?.code ?? 'internal', name: e?.name, snapshotStep } });
  }
};
self.postMessage({ ready: true });
