// The demo page: the UI only. Models, WebGPU and training live in worker.js (the page stays responsive).
//
//   index.html?model=/pretrained/austen-bert-tiny/   (default; any URL of a Hugging Face model directory)
//   index.html?model=org/name[&endpoint=URL]         (a hub id: fetched once, then from the browser's cache)
//
// Tests drive it through `window.bertDemo` (see the end of this file); `document.body.dataset.state` is
// "loading", then "ready" or "error"; `dataset.training` (pretraining) and `dataset.finetune` are "running",
// "done", "stopped" or "failed".

import { isHubId } from './pkg/hub-id.js';
import { $, onSubmit, setStatus } from './demo/ui.js';
import { call, download, startWorker } from './demo/worker-client.js';
import { fillMask } from './demo/fill-mask.js';
import { attention, drawHeatmap } from './demo/attention.js';
import { lastRunOf, showCorpusChoice, startTraining } from './demo/pretrain.js';
import { classify, lastFinetuneOf, startFinetune } from './demo/finetune.js';

/** `?model=`: a hub id as given (`name`, `org/name`), else the URL of a model directory. */
function modelUrl() {
  const param = new URLSearchParams(location.search).get('model') || 'pretrained/austen-bert-tiny/';
  if (isHubId(param)) return param;
  const url = new URL(param, location.href);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

function describeAdapter(info) {
  return `Adapter: ${info.name || '(name not given by the browser)'} (${info.backend}, ${info.deviceType}); ` +
    `subgroup matmul: ${info.subgroupMatmul ? 'yes' : 'no'}; max storage binding ` +
    `${(info.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`;
}

async function main() {
  document.body.dataset.state = 'loading';
  const url = modelUrl();
  $('model').textContent = url;
  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is missing), so the demo cannot run here. Use a recent Chrome, ' +
        'Edge or Safari, or enable WebGPU (Chromium on Linux: --enable-unsafe-webgpu); the page must come from ' +
        'https or localhost.',
    );
  }
  setStatus('Starting the worker…');
  await startWorker();
  setStatus(`Loading the model from ${url}…`);
  const endpoint = new URLSearchParams(location.search).get('endpoint') || undefined;
  const { info, architecture } = await call('init', { modelUrl: url, endpoint }, (p) => {
    if (p.status === 'progress' && p.total) {
      setStatus(`Loading ${url}: ${p.file} ${(p.loaded / 2 ** 20).toFixed(1)} of ${(p.total / 2 ** 20).toFixed(1)} MiB…`);
    }
  });
  const hasMlm = /ForPreTraining|ForMaskedLM/.test(architecture);
  $('adapter').textContent = describeAdapter(info);

  onSubmit('fill-form', () => fillMask($('text').value, Number($('topk').value) || 5));
  onSubmit('attention-form', () => attention($('attention-text').value));
  for (const id of ['layer', 'head']) $(id).addEventListener('change', drawHeatmap);
  $('corpus-choice').addEventListener('change', () => showCorpusChoice().catch((e) => setStatus(e.message, 'error')));
  $('train-start').addEventListener('click', () => startTraining().catch(() => {}));
  $('train-stop').addEventListener('click', () => call('stop'));
  $('download').addEventListener('click', () => download().catch((e) => setStatus(e.message, 'error')));
  $('ft-start').addEventListener('click', () => startFinetune());
  $('ft-stop').addEventListener('click', () => call('stop'));
  $('ft-download').addEventListener('click', () => download('finetuned').catch((e) => setStatus(e.message, 'error')));
  for (const id of ['ft-train-file', 'ft-eval-file']) {
    $(id).addEventListener('change', () => {
      if ($(id).files.length) $('ft-data').value = 'upload';
    });
  }
  onSubmit('ft-try-form', () => classify($('ft-text').value));
  for (const el of document.querySelectorAll('input, select, button, textarea')) el.disabled = false;
  for (const id of ['train-stop', 'download', 'ft-stop', 'ft-download', 'ft-text', 'ft-try']) $(id).disabled = true;
  await showCorpusChoice();
  if (hasMlm) {
    await fillMask($('text').value, 5);
  } else {
    for (const el of $('fill-form').elements) el.disabled = true;
    $('results').textContent = `This model (${architecture}) has no masked-LM head: fill-mask needs one.`;
  }
  await attention($('attention-text').value);
  setStatus('Ready.', 'ready');
  document.body.dataset.state = 'ready';
  return info;
}

const ready = main();
ready.catch((e) => {
  setStatus(e.message ?? String(e), 'error');
  document.body.dataset.state = 'error';
  for (const el of document.querySelectorAll('input, select, button, textarea')) el.disabled = true;
});

window.bertDemo = {
  ready,
  fillMask: async (text, topK) => (await ready, fillMask(text, topK)),
  embed: async (texts, options) => (await ready, call('embed', { which: 'pretrained', texts, options })),
  attention: async (text) => (await ready, attention(text)),
  trainedFillMask: async (text, topK) => (await ready, call('fillMask', { which: 'trained', text, topK })),
  startTraining: async (overrides) => (await ready, startTraining(overrides)),
  stopTraining: () => call('stop'),
  download: async () => (await ready, download()),
  startFinetune: async (overrides) => (await ready, startFinetune(overrides)),
  classify: async (text) => (await ready, classify(text)),
  downloadClassifier: async () => (await ready, download('finetuned')),
  lastFinetune: lastFinetuneOf,
  loseDevice: () => call('loseDevice'),
  lastRun: lastRunOf,
};
ready.catch(() => {}); // reported on the page, not as an unhandled rejection
