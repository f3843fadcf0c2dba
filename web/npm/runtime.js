// The package's runtime: the WebAssembly module (loaded once), BertError and the conversion of every failure
// to one, one call at a time per model, and the adapter's description.

import initWasm, * as wasm from './bert_wgpu.js';

/** The token that lets the package's own modules construct a Bert or Trainer. */
export const fromInner = Symbol('bert-wgpu inner');

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

export function toBertError(e) {
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
export async function guarded(fn) {
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
export class Lock {
  #tail = Promise.resolve();
  run(fn) {
    const result = this.#tail.then(() => guarded(fn));
    this.#tail = result.catch(() => {});
    return result;
  }
}

/** wgpu leaves the adapter's name empty on WebGPU: the browser's GPUAdapterInfo fills it in. */
export async function withName(info) {
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
