// bert-wgpu: BERT inference, pretraining and fine-tuning in WebGPU compute shaders (WGSL), from Rust
// compiled to WebAssembly. This module is the package's public API, a thin layer over the wasm-bindgen
// classes in ./bert_wgpu.js: runtime.js loads the module and turns every failure into a rejected promise
// with a BertError (message + code); files.js reads model directories (hub.js: by hub id, through the Cache
// API); bert.js runs one call at a time per model; trainer.js trains and keeps host-side snapshots;
// kernels.js chooses matmul kernels by measurement. Nothing is fetched but the URLs the caller gives, the
// files of a hub id it gives, and the package's own .wasm next to this file (or the URL given to init()).

export { BertError, init, adapterInfo } from './runtime.js';
export { readModelFiles } from './files.js';
export { Bert } from './bert.js';
export { Trainer } from './trainer.js';
export { prepareKernels, clearKernelChoices, matmulRates, bench } from './kernels.js';
export { cachedModels, clearCache, HUB_ENDPOINT, isHubId } from './hub.js';
export { zip } from './zip.js';
