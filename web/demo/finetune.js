// The fine-tuning panel: a sentiment classifier on the bundled sample or chosen files, with its accuracy
// curve, then tried on typed sentences.

import { $, barRow, plotCurves } from './ui.js';
import { call } from './worker-client.js';

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
  const { train, eval: evals, loss, total } = ftCurve;
  plotCurves($('ft-curve'), {
    total,
    max: Math.max(1, ...loss.map((p) => p[1])),
    guide: 0.5,
    series: [
      { points: loss, color: '#1f77b4', dash: '3 2' },
      { points: train, color: '#2ca02c' },
      { points: evals, color: '#ff7f0e' },
    ],
    dots: { points: evals, color: '#ff7f0e', className: 'eval-point' },
  });
}

function renderLabelScores(scores) {
  $('ft-results').replaceChildren(...scores.map((s) => barRow(s.label, s.score)));
}

export async function classify(text) {
  const scores = await call('predict', { which: 'finetuned', inputs: text });
  renderLabelScores(scores);
  return scores;
}

let lastFinetune = null;

/** The last fine-tuning run: `{ progress, result, scores }` or `{ progress, error }`. */
export const lastFinetuneOf = () => lastFinetune;

export async function startFinetune(overrides = {}) {
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
