// The "watch it learn" panel: pretraining from pasted or bundled text, with the loss curve, probe predictions
// and the masking of a batch.

import { $, plotCurves } from './ui.js';
import { call } from './worker-client.js';

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

export async function showCorpusChoice() {
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
  const max = Math.max(1, ...[...curve.loss, ...curve.mlm].map((p) => p[1]));
  plotCurves($('loss-curve'), {
    total,
    max,
    series: [
      { points: curve.loss, color: '#1f77b4' },
      { points: curve.mlm, color: '#2ca02c' },
    ],
  });
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

/** The last pretraining run: `{ progress, result }` or `{ progress, error }`. */
export const lastRunOf = () => lastRun;

export async function startTraining(overrides = {}) {
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
