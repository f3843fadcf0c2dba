// Matmul kernels chosen by measurement in the browser (kept in IndexedDB), their rates, and the bench.

import * as wasm from './bert_wgpu.js';
import { guarded, withName } from './runtime.js';

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
