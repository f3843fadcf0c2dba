// The demo page: the UI only. Models, WebGPU and training live in worker.js (the page stays responsive).
//
//   index.html?model=/pretrained/austen-bert-tiny/   (default; any URL of a Hugging Face model directory)
//   index.html?model=org/name[&endpoint=URL]         (a hub id: fetched once, then from the browser's cache)
//
// Tests drive it through `window.bertDemo` (see the end of this file); `document.body.dataset.state` is
// "loading", then "ready" or "error"; `dataset.training` (pretraining) and `dataset.finetune` are "running",
// "done", "stopped" or "failed".

import { isHubId } from './pkg/hub-id.js';

const $ = (id) => document.getElementById(id);

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

/** `?model=`: a hub id as given (`name`, `org/name`), else the URL of a model directory. */
function modelUrl() {
  const param = new URLSearchParams(location.search).get('model') || 'pretrained/austen-bert-tiny/';
  if (isHubId(param)) return param;
  const url = new URL(param, location.href);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

// ---- the worker -----------------------------------------------------------------------------------------

let worker;
let nextId = 1;
const pending = new Map();

function startWorker() {
  return new Promise((resolve, reject) => {
    worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
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
function call(op, args, onProgress) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ id, op, args });
  });
}

// ---- fill-mask ------------------------------------------------------------------------------------------

function barRow(label, score) {
  const row = document.createElement('div');
  row.className = 'bar-row';
  const l = document.createElement('span');
  l.className = 'label';
  l.textContent = label;
  const track = document.createElement('div');
  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.style.width = `${(score * 100).toFixed(2)}%`;
  track.append(bar);
  const s = document.createElement('span');
  s.className = 'score';
  s.textContent = score.toFixed(4);
  row.append(l, track, s);
  return row;
}

function renderFillMask(perMask) {
  $('results').replaceChildren(
    ...perMask.map((predictions, m) => {
      const box = document.createElement('div');
      box.className = 'mask-result';
      const h = document.createElement('h4');
      h.textContent = perMask.length > 1 ? `[MASK] ${m + 1}` : '[MASK]';
      box.append(h, ...predictions.map((p) => barRow(p.token_str, p.score)));
      return box;
    }),
  );
}

async function fillMask(text, topK = 5) {
  const perMask = await call('fillMask', { which: 'pretrained', text, topK });
  renderFillMask(perMask);
  return perMask;
}

// ---- attention ------------------------------------------------------------------------------------------

let maps = null;

function drawHeatmap() {
  const canvas = $('heatmap');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!maps) return;
  const layer = Number($('layer').value);
  const head = Number($('head').value);
  const m = maps.attention[layer][head];
  const n = maps.tokens.length;
  const margin = 110;
  const cell = Math.max(4, Math.floor((canvas.width - margin - 10) / n));
  ctx.font = `${Math.min(13, cell)}px ui-monospace, monospace`;
  ctx.fillStyle = '#222';
  ctx.textBaseline = 'middle';
  maps.tokens.forEach((t, i) => {
    const label = maps.segments[i] ? `${t} ·B` : t;
    ctx.textAlign = 'right';
    ctx.fillText(label, margin - 6, margin + i * cell + cell / 2);
    ctx.save();
    ctx.translate(margin + i * cell + cell / 2, margin - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'left';
    ctx.fillText(t, 0, 0);
    ctx.restore();
  });
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      const v = m[q * n + k];
      const shade = Math.round(255 * (1 - Math.sqrt(v)));
      ctx.fillStyle = `rgb(${shade},${shade},255)`;
      ctx.fillRect(margin + k * cell, margin + q * cell, cell - 1, cell - 1);
    }
  }
}

async function attention(text) {
  maps = await call('attention', { which: 'pretrained', text });
  for (const [id, count] of [['layer', maps.layers], ['head', maps.heads]]) {
    const select = $(id);
    const keep = Math.min(Number(select.value) || 0, count - 1);
    select.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(String(i + 1), String(i))));
    select.value = String(keep);
  }
  drawHeatmap();
  return { tokens: maps.tokens, layers: maps.layers, heads: maps.heads };
}

// ---- watch it learn ---------------------------------------------------------------------------------------

/** Pasted prose to the corpus format: one sentence a line, blank lines kept as document breaks. */
function toCorpusFormat(text) {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim().split(/(?<=[.!?]["'”’)]?)\s+(?=["'“‘(]?[A-Z])/).join('\n'))
    .join('\n');
}

async function corpusText() {
  const choice = $('corpus-choice').value;
  if (!choice) return toCorpusFormat($('corpus').value);
  return $('corpus').value;
}

async function showCorpusChoice() {
  const choice = $('corpus-choice').value;
  if (!choice) {
    $('corpus').value = '';
    return;
  }
  const response = await fetch(choice);
  if (!response.ok) throw new Error(`${choice}: HTTP ${response.status}`);
  $('corpus').value = await response.text();
}

const curve = { loss: [], mlm: [] };

function drawCurve(total) {
  const svg = $('loss-curve');
  const all = [...curve.loss, ...curve.mlm].map((p) => p[1]);
  const max = Math.max(1, ...all);
  const x = (s) => 30 + (360 * s) / Math.max(1, total);
  const y = (v) => 180 - (170 * v) / max;
  const line = (points, color) =>
    `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  svg.innerHTML =
    `<line x1="30" y1="180" x2="390" y2="180" stroke="#999"/><line x1="30" y1="10" x2="30" y2="180" stroke="#999"/>` +
    `<text x="26" y="14" font-size="10" text-anchor="end">${max.toFixed(1)}</text>` +
    `<text x="26" y="182" font-size="10" text-anchor="end">0</text>` +
    `<text x="390" y="195" font-size="10" text-anchor="end">step ${total}</text>` +
    line(curve.loss, '#1f77b4') +
    line(curve.mlm, '#2ca02c');
}

function renderProbe({ step, predictions }) {
  let table = $('probe-results').querySelector('table');
  if (!table) {
    table = document.createElement('table');
    $('probe-results').replaceChildren(table);
  }
  const row = table.insertRow(0);
  row.className = 'probe-row';
  row.insertCell().textContent = `step ${step}`;
  for (const mask of predictions) {
    row.insertCell().textContent = mask.map((p) => `${p.token_str} ${(p.score * 100).toFixed(1)}%`).join(' · ');
  }
}

function renderBatch(view) {
  const special = new Set(['[CLS]', '[SEP]']);
  $('batch-view').replaceChildren(
    ...view.tokens.map((t) => {
      const span = document.createElement('span');
      const classes = ['tok', t.segment ? 'seg1' : 'seg0'];
      if (special.has(t.token)) classes.push('special');
      if (t.kind) classes.push(t.kind);
      span.className = classes.join(' ');
      span.title = `segment ${t.segment}${t.kind ? `; ${t.kind}, predict "${t.original}"` : ''}`;
      span.append(t.token);
      if (t.kind) {
        const small = document.createElement('small');
        small.textContent = t.original;
        span.append(small);
      }
      return span;
    }),
  );
  const note = document.createElement('span');
  note.className = 'muted';
  note.textContent = view.isRandomNext ? '  (B is a random span: NSP label "not next")' : '  (B continues A: NSP label "next")';
  $('batch-view').append(note);
}

let lastRun = null;

async function startTraining(overrides = {}) {
  const text = overrides.text ?? (await corpusText());
  const options = {
    steps: Number($('steps').value),
    batchSize: Number($('batch').value),
    seqLen: Number($('seq').value),
    lr: Number($('lr').value),
    ...overrides.options,
  };
  const probe = overrides.probe ?? $('probe').value;
  curve.loss = [];
  curve.mlm = [];
  $('probe-results').replaceChildren();
  for (const id of ['train-start', 'ft-start']) $(id).disabled = true;
  $('train-stop').disabled = false;
  $('train-status').className = 'muted';
  $('train-status').textContent = 'Preparing the data…';
  document.body.dataset.training = 'running';
  const started = performance.now();
  let tokens = 0;
  let total = options.steps;
  const progress = [];
  const run = call('pretrain', { text, options, probe, probeEvery: overrides.probeEvery ?? 10 }, (p) => {
    if (p.info) {
      total = p.info.totalSteps;
      $('train-status').textContent =
        `${p.info.documents} documents, ${p.info.sentences} sentences, ${p.info.corpusTokens} tokens; ` +
        `${p.info.instancesPerEpoch} sequences a pass; ${total} steps of ${p.info.batchSize}`;
    }
    if (p.metrics) {
      const m = p.metrics;
      progress.push(m);
      tokens += m.tokens;
      curve.loss.push([m.step, m.loss]);
      curve.mlm.push([m.step, m.mlmLoss]);
      drawCurve(total);
      const rate = tokens / ((performance.now() - started) / 1000);
      $('train-status').textContent =
        `step ${m.step}/${m.totalSteps}: loss ${m.loss.toFixed(3)} (MLM ${m.mlmLoss.toFixed(3)}, NSP ` +
        `${m.nspLoss.toFixed(3)}), MLM accuracy ${(m.mlmAccuracy * 100).toFixed(1)}%, pass ${m.epoch + 1}, ` +
        `${rate.toFixed(0)} tokens/s`;
      $('download').disabled = false;
    }
    if (p.probe) renderProbe(p.probe);
    if (p.batch) renderBatch(p.batch);
  });
  try {
    const result = await run;
    document.body.dataset.training = 'done';
    $('train-status').textContent += ' — done.';
    lastRun = { progress, result };
    return { losses: progress.map((m) => m.loss), progress, result };
  } catch (e) {
    lastRun = { progress, error: e };
    if (e.code === 'aborted') {
      document.body.dataset.training = 'stopped';
      $('train-status').textContent = `Stopped: ${e.message}.`;
      return { losses: progress.map((m) => m.loss), progress, stopped: true };
    }
    document.body.dataset.training = 'failed';
    $('train-status').textContent = `Training failed: ${e.message.replace(/\.?$/, '.')}` +
      (e.code === 'device-lost'
        ? e.snapshotStep !== undefined
          ? ` The copy of step ${e.snapshotStep} can still be downloaded.`
          : ' No copy of the model was taken yet.'
        : '');
    $('train-status').className = 'error';
    throw e;
  } finally {
    for (const id of ['train-start', 'ft-start']) $(id).disabled = false;
    $('train-stop').disabled = true;
  }
}

async function download(which = 'trained') {
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

// ---- fine-tune a classifier ------------------------------------------------------------------------------

const BUNDLED = { train: 'data/sentiment-train.tsv', eval: 'data/sentiment-dev.tsv' };
const ftCurve = { train: [], eval: [], loss: [], total: 1 };

/** The training and eval rows: the bundled sample, or the chosen files (a File goes to the worker as is). */
async function finetuneRows() {
  if ($('ft-data').value === 'bundled') {
    const fetchRows = async (url) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return { text: await response.text(), name: url.split('/').pop() };
    };
    return { train: await fetchRows(BUNDLED.train), eval: await fetchRows(BUNDLED.eval) };
  }
  const train = $('ft-train-file').files[0];
  if (!train) throw Object.assign(new Error('choose a training file (TSV with a header row: label<TAB>text)'), { code: 'input' });
  return { train, eval: $('ft-eval-file').files[0] };
}

function drawFinetuneCurve() {
  const svg = $('ft-curve');
  const { train, eval: evals, loss, total } = ftCurve;
  const max = Math.max(1, ...loss.map((p) => p[1]));
  const x = (s) => 30 + (360 * s) / Math.max(1, total);
  const y = (v) => 180 - (170 * v) / max;
  const line = (points, color, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="1.5" ${dash} points="${points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const dots = evals.map(([s, v]) => `<circle class="eval-point" cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="#ff7f0e"/>`);
  svg.innerHTML =
    `<line x1="30" y1="180" x2="390" y2="180" stroke="#999"/><line x1="30" y1="10" x2="30" y2="180" stroke="#999"/>` +
    `<line x1="30" y1="${y(0.5).toFixed(1)}" x2="390" y2="${y(0.5).toFixed(1)}" stroke="#eee"/>` +
    `<text x="26" y="14" font-size="10" text-anchor="end">${max.toFixed(1)}</text>` +
    `<text x="26" y="${(y(0.5) + 3).toFixed(1)}" font-size="10" text-anchor="end">0.5</text>` +
    `<text x="26" y="182" font-size="10" text-anchor="end">0</text>` +
    `<text x="390" y="195" font-size="10" text-anchor="end">step ${total}</text>` +
    line(loss, '#1f77b4', 'stroke-dasharray="3 2"') +
    line(train, '#2ca02c') +
    line(evals, '#ff7f0e') +
    dots.join('');
}

function renderLabelScores(scores) {
  $('ft-results').replaceChildren(...scores.map((s) => barRow(s.label, s.score)));
}

async function classify(text) {
  const scores = await call('predict', { which: 'finetuned', inputs: text });
  renderLabelScores(scores);
  return scores;
}

let lastFinetune = null;

async function startFinetune(overrides = {}) {
  const status = $('ft-status');
  const options = {
    epochs: Number($('ft-epochs').value),
    batchSize: Number($('ft-batch').value),
    maxLength: Number($('ft-maxlen').value),
    lr: Number($('ft-lr').value),
    limit: Number($('ft-rows').value) || undefined,
    evalLimit: Number($('ft-eval-rows').value) || undefined,
    ...overrides.options,
  };
  Object.assign(ftCurve, { train: [], eval: [], loss: [], total: 1 });
  drawFinetuneCurve();
  for (const id of ['ft-start', 'train-start']) $(id).disabled = true;
  $('ft-stop').disabled = false;
  status.className = 'muted';
  status.textContent = 'Reading the rows…';
  document.body.dataset.finetune = 'running';
  const progress = [];
  const started = performance.now();
  let tokens = 0;
  try {
    const rows = overrides.rows ?? (await finetuneRows());
    status.textContent = 'Tokenizing the rows and adding the head…';
    const result = await call('finetune', { ...rows, options }, (p) => {
      if (p.info) {
        const i = p.info;
        ftCurve.total = i.totalSteps;
        status.textContent =
          `${i.trainExamples} training rows${i.evalExamples ? `, ${i.evalExamples} eval rows` : ''}; labels ` +
          `${(i.labels ?? ['(regression)']).join(', ')}; ${i.epochs} epochs of ${i.stepsPerEpoch} steps of ${i.batchSize}`;
      }
      if (p.metrics) {
        const m = p.metrics;
        progress.push(m);
        tokens += m.tokens;
        // Training accuracy over the last steps of the epoch so far (one batch alone is noisy).
        const recent = progress.slice(-Math.max(1, Math.min(10, m.stepsPerEpoch)));
        const mean = recent.reduce((a, r) => a + (r.accuracy ?? 0), 0) / recent.length;
        ftCurve.train.push([m.step, mean]);
        ftCurve.loss.push([m.step, m.loss]);
        if (m.eval) ftCurve.eval.push([m.step, m.eval.accuracy]);
        drawFinetuneCurve();
        const rate = tokens / ((performance.now() - started) / 1000);
        const evals = ftCurve.eval.map(([, a]) => `${(a * 100).toFixed(1)}%`).join(' → ');
        status.textContent =
          `step ${m.step}/${m.totalSteps} (epoch ${Math.ceil(m.step / m.stepsPerEpoch)}): loss ${m.loss.toFixed(3)}, ` +
          `training accuracy ${(mean * 100).toFixed(1)}%` + (evals ? `, eval accuracy ${evals}` : '') +
          `, ${rate.toFixed(0)} tokens/s`;
      }
    });
    status.textContent += ' — done. Try it: type a sentence.';
    for (const id of ['ft-text', 'ft-try', 'ft-download']) $(id).disabled = false;
    const scores = await classify($('ft-text').value);
    lastFinetune = { progress, result, scores };
    document.body.dataset.finetune = 'done';
    return lastFinetune;
  } catch (e) {
    lastFinetune = { progress, error: { message: e.message, code: e.code } };
    if (e.code === 'aborted') {
      document.body.dataset.finetune = 'stopped';
      status.textContent = `Stopped: ${e.message}. The model as it is now can be tried and downloaded.`;
      for (const id of ['ft-text', 'ft-try', 'ft-download']) $(id).disabled = false;
      return lastFinetune;
    }
    document.body.dataset.finetune = 'failed';
    status.textContent = `Fine-tuning failed: ${e.message.replace(/\.?$/, '.')}`;
    status.className = 'error';
    return lastFinetune;
  } finally {
    for (const id of ['ft-start', 'train-start']) $(id).disabled = false;
    $('ft-stop').disabled = true;
  }
}

// ---- start ------------------------------------------------------------------------------------------------

function onSubmit(form, fn) {
  $(form).addEventListener('submit', async (event) => {
    event.preventDefault();
    const started = performance.now();
    setStatus('Running…');
    try {
      await fn();
      setStatus(`Done in ${(performance.now() - started).toFixed(0)} ms.`, 'ready');
    } catch (e) {
      setStatus(e.message ?? String(e), 'error');
    }
  });
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
  lastFinetune: () => lastFinetune,
  loseDevice: () => call('loseDevice'),
  lastRun: () => lastRun,
};
ready.catch(() => {}); // reported on the page, not as an unhandled rejection
