// The bridge to the demo's Web Worker (worker.js), where every model, WebGPU call and training step runs.

import { $ } from './ui.js';

let worker;
let nextId = 1;
const pending = new Map();

export function startWorker() {
  return new Promise((resolve, reject) => {
    worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`the worker failed to start: ${e.message || 'could not load ./pkg/index.js (build it with scripts/build-web.sh)'}`));
    };
    worker.onmessage = ({ data }) => {
      if (data.ready) return resolve();
      const call = pending.get(data.id);
      if (!call) return;
      if ('progress' in data) return call.onProgress?.(data.progress);
      pending.delete(data.id);
      if (data.error) call.reject(Object.assign(new Error(data.error.message), data.error));
      else call.resolve(data.result);
    };
  });
}

/** Calls an operation of the worker. */
export function call(op, args, onProgress) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, op, args });
  });
}

/** Downloads the zip of a model the worker holds ("trained": pretrained here, or "finetuned"). */
export async function download(which = 'trained') {
  const { bytes, name, files, note } = await call('download', { which });
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/zip' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  if (note) $(which === 'finetuned' ? 'ft-status' : 'train-status').textContent = `Downloaded ${name}: ${note}.`;
  return { name, files, size: bytes.length, note };
}
