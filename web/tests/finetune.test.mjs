// Fine-tuning and task pipelines through the package's API in a page (headless Chromium, WebGPU on
// SwiftShader): Trainer.finetune on rows of the bundled sentiment sample and on the sentence-pair fixture
// against `bert-wgpu finetune` (the same losses step by step, the same eval accuracy per epoch), the saved model predicting natively the labels it
// predicts in the browser, cancellation, bad rows rejected with the file and line, and Bert.predict equal to
// `bert-wgpu predict --json` for the text-classification, token-classification and question-answering
// fixtures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browserForTests, fixturesDir, nativeBin, readJson, repoDir, runNative, webDir, packageCaller } from './harness.mjs';

const AUSTEN = '/pretrained/austen-bert-tiny/';
const austenDir = path.join(repoDir, 'pretrained', 'austen-bert-tiny');
const trainTsv = path.join(webDir, 'data', 'sentiment-train.tsv');
const devTsv = path.join(webDir, 'data', 'sentiment-dev.tsv');
// A short run of the demo's recipe on the first 48 training and 32 dev rows: 6 steps an epoch, 2 epochs.
const RECIPE = { epochs: 2, batchSize: 8, maxLength: 64, lr: 5e-4, seed: 42 };
const [TRAIN_ROWS, EVAL_ROWS, STEPS_PER_EPOCH, STEPS] = [48, 32, 6, 12];
const head = (file, rows) => fs.readFileSync(file, 'utf8').split('\n').slice(0, rows + 1).join('\n') + '\n';
const SENTENCES = ['A gripping, funny and moving film.', 'Dull, lifeless and far too long.', 'the story is told well .'];

const session = browserForTests('blank'); // the browser and page of this file's tests
const { problems } = session; // page errors and console errors

const { inPage, rejection } = packageCaller(() => session.page);

const tmpDir = (what) => fs.mkdtempSync(path.join(os.tmpdir(), `bert-wgpu-${what}-`));
const relClose = (a, b, tol) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('Trainer.finetune on the sentiment sample: the losses and eval accuracy of bert-wgpu finetune; the saved model predicts the same natively', async () => {
  const out = tmpDir('finetune');
  try {
    const r = await inPage(
      async (api, model, recipe, sentences, train, evalText) => {
        const trainer = await api.Trainer.finetune({
          model,
          train: new File([train], 'sentiment-train.tsv'),
          eval: { text: evalText, name: 'sentiment-dev.tsv' },
          ...recipe,
        });
        const info = await trainer.info();
        const seen = [];
        const started = performance.now();
        const result = await trainer.train({ onProgress: (m) => seen.push(m) });
        const seconds = (performance.now() - started) / 1000;
        const files = await trainer.save();
        const predictions = await trainer.model.predict(sentences);
        const reloaded = await (await api.Bert.load(files)).predict(sentences);
        const saved = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, Array.from(v)]));
        return { info, seen, seconds, steps: result.steps, predictions, reloaded, saved, labels: await trainer.model.labels() };
      },
      AUSTEN,
      RECIPE,
      SENTENCES,
      head(trainTsv, TRAIN_ROWS),
      head(devTsv, EVAL_ROWS),
    );
    const tokens = r.seen.reduce((n, m) => n + m.tokens, 0);
    console.log(`  ${STEPS} fine-tuning steps of 8 rows (2 evaluations of ${EVAL_ROWS} rows) in ${r.seconds.toFixed(1)} s: ${(tokens / r.seconds).toFixed(0)} training tokens/s with the evaluations`);
    assert.equal(r.info.stepsPerEpoch, STEPS_PER_EPOCH);
    assert.equal(r.info.totalSteps, STEPS);
    assert.equal(r.info.trainExamples, TRAIN_ROWS);
    assert.equal(r.info.evalExamples, EVAL_ROWS);
    assert.deepEqual(r.info.labels, ['negative', 'positive']);
    assert.deepEqual(r.labels, ['negative', 'positive']);
    assert.equal(r.steps, STEPS);
    assert.equal(r.seen.length, STEPS);
    for (const m of r.seen) {
      assert.ok(Number.isFinite(m.loss) && Number.isFinite(m.accuracy) && Number.isFinite(m.gradNorm), JSON.stringify(m));
      assert.equal(m.epochEnd, m.step % STEPS_PER_EPOCH === 0);
      assert.equal(Boolean(m.eval), m.epochEnd, `eval metrics at the end of each epoch only (step ${m.step})`);
    }
    const evals = r.seen.filter((m) => m.eval).map((m) => m.eval);
    assert.equal(evals.length, 2);
    for (const e of evals) assert.ok(e.accuracy >= 0 && e.accuracy <= 1 && e.examples === EVAL_ROWS, JSON.stringify(e));
    // The model learns its training rows: the second epoch's accuracy and loss beat the first's.
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const epochAccuracy = [1, 2].map((e) => mean(r.seen.filter((m) => Math.ceil(m.step / STEPS_PER_EPOCH) === e).map((m) => m.accuracy)));
    const epochLoss = [1, 2].map((e) => mean(r.seen.filter((m) => Math.ceil(m.step / STEPS_PER_EPOCH) === e).map((m) => m.loss)));
    console.log(`  train accuracy per epoch ${epochAccuracy.map((a) => a.toFixed(3))}, loss ${epochLoss.map((a) => a.toFixed(3))}; eval accuracy ${evals.map((e) => e.accuracy)}`);
    assert.ok(epochAccuracy[1] > epochAccuracy[0], `train accuracy ${epochAccuracy}`);
    assert.ok(epochLoss[1] < epochLoss[0], `train loss ${epochLoss}`);

    // The same run natively: the same losses step by step and the same eval metrics.
    const native = path.join(out, 'native');
    execFileSync(nativeBin, [
      'finetune', '--task', 'seq-cls', '--model', austenDir, '--train', trainTsv, '--eval', devTsv, '--out', native,
      '--epochs', '2', '--batch-size', '8', '--max-length', '64', '--lr', '5e-4', '--seed', '42', '--log-every', '1',
      '--limit', String(TRAIN_ROWS), '--eval-limit', String(EVAL_ROWS),
    ], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    const log = fs.readFileSync(path.join(native, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const trainLog = log.filter((l) => l.split === 'train');
    const evalLog = log.filter((l) => l.split === 'eval');
    assert.equal(trainLog.length, STEPS);
    let worst = 0;
    trainLog.forEach((l, i) => {
      const m = r.seen[i];
      assert.equal(m.step, l.step);
      worst = Math.max(worst, Math.abs(m.loss - l.loss) / Math.max(1, Math.abs(l.loss)));
      assert.ok(relClose(m.loss, l.loss, 1e-4), `step ${l.step}: loss ${m.loss} vs native ${l.loss}`);
      assert.ok(relClose(m.lr, l.lr, 1e-6), `step ${l.step}: lr ${m.lr} vs ${l.lr}`);
    });
    evalLog.forEach((l, i) => {
      assert.equal(evals[i].accuracy, l.accuracy, `epoch ${i + 1}: eval accuracy vs native`);
      assert.ok(relClose(evals[i].loss, l.loss, 1e-4), `epoch ${i + 1}: eval loss ${evals[i].loss} vs native ${l.loss}`);
    });
    assert.equal(evalLog.length, 2);
    console.log(`  ${STEPS} steps vs bert-wgpu finetune: largest relative loss difference ${worst.toExponential(2)}`);

    // The browser's saved directory: native predict gives the labels the browser gives.
    const saved = path.join(out, 'saved');
    fs.mkdirSync(saved);
    for (const [name, bytes] of Object.entries(r.saved)) fs.writeFileSync(path.join(saved, name), Buffer.from(bytes));
    const config = readJson(path.join(saved, 'config.json'));
    assert.deepEqual(config.architectures, ['BertForSequenceClassification']);
    assert.deepEqual(config.id2label, { 0: 'negative', 1: 'positive' });
    assert.equal(config.problem_type, 'single_label_classification');
    const predicted = runNative(['predict', '--model', saved, '--json', ...SENTENCES]);
    predicted.forEach((scores, i) => {
      assert.equal(r.predictions[i][0].label, scores[0].label, `"${SENTENCES[i]}": browser vs native label`);
      scores.forEach((s, k) => assert.ok(Math.abs(r.predictions[i][k].score - s.score) < 1e-4, `"${SENTENCES[i]}": ${s.label}`));
    });
    assert.deepEqual(r.reloaded.map((p) => p[0].label), r.predictions.map((p) => p[0].label));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
});

test('Trainer.finetune with sentence pairs on a model that has its head: the losses of bert-wgpu finetune --task pair-cls', async () => {
  const fixture = path.join(fixturesDir, 'finetune');
  const out = tmpDir('finetune-pairs');
  try {
    const r = await inPage(async (api) => {
      const trainer = await api.Trainer.finetune({
        model: '/fixtures/finetune/seq-cls/',
        train: new URL('/fixtures/finetune/pair-train.tsv', location.href),
        eval: new URL('/fixtures/finetune/pair-eval.tsv', location.href),
        task: 'pair-cls',
        epochs: 1,
        batchSize: 16,
        lr: 1e-3,
      });
      const seen = [];
      await trainer.train({ onProgress: (m) => seen.push(m) });
      return { seen, info: await trainer.info() };
    });
    execFileSync(nativeBin, [
      'finetune', '--task', 'pair-cls', '--model', path.join(fixture, 'seq-cls'), '--train', path.join(fixture, 'pair-train.tsv'),
      '--eval', path.join(fixture, 'pair-eval.tsv'), '--out', out, '--epochs', '1', '--batch-size', '16', '--lr', '1e-3', '--log-every', '1',
    ], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    const log = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const trainLog = log.filter((l) => l.split === 'train');
    const evalLog = log.filter((l) => l.split === 'eval');
    // The model's own labels (config.json's id2label), in its order.
    assert.deepEqual(r.info.labels, ['entailment', 'neutral', 'contradiction']);
    assert.equal(r.info.task, 'pair-cls');
    assert.equal(r.seen.length, trainLog.length);
    assert.equal(r.seen.length, 8);
    trainLog.forEach((l, i) => {
      assert.ok(relClose(r.seen[i].loss, l.loss, 1e-4), `step ${l.step}: loss ${r.seen[i].loss} vs native ${l.loss}`);
      assert.ok(Math.abs(r.seen[i].accuracy - l.accuracy) < 1e-9, `step ${l.step}: accuracy`);
    });
    const last = r.seen.at(-1).eval;
    assert.equal(last.accuracy, evalLog[0].accuracy);
    assert.ok(relClose(last.macro_f1, evalLog[0].macro_f1, 1e-9));
    assert.ok(relClose(last.loss, evalLog[0].loss, 1e-4), `eval loss ${last.loss} vs ${evalLog[0].loss}`);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
});

test('fine-tuning: step() one at a time, cancellation through an AbortSignal, evaluate()', async () => {
  const r = await inPage(async (api, model) => {
    const rows = [];
    for (let i = 0; i < 24; i++) rows.push({ text: i % 2 ? 'a fine and happy film .' : 'a dull and sad film .', label: i % 2 ? 'good' : 'bad' });
    const trainer = await api.Trainer.finetune({ model, train: rows, eval: rows.slice(0, 8), batchSize: 4, epochs: 2, maxLength: 16, lr: 1e-3 });
    const first = await trainer.step();
    const controller = new AbortController();
    let error;
    try {
      await trainer.train({ onProgress: (m) => m.step === 3 && controller.abort(), signal: controller.signal });
    } catch (e) {
      error = { name: e.name, code: e.code, message: e.message };
    }
    const info = await trainer.info();
    const evaluation = await trainer.evaluate();
    return { first, error, info, evaluation, snapshot: trainer.snapshot?.step, history: trainer.history.length };
  }, AUSTEN);
  assert.equal(r.first.step, 1);
  assert.equal(r.first.scored, 4);
  assert.equal(r.info.stepsPerEpoch, 6);
  assert.deepEqual(r.info.labels, ['bad', 'good']);
  assert.equal(r.error?.name, 'AbortError');
  assert.equal(r.error?.code, 'aborted');
  assert.match(r.error.message, /cancelled after 2 step\(s\), at step 3/);
  assert.equal(r.info.step, 3);
  assert.equal(r.snapshot, 3);
  assert.equal(r.history, 3);
  assert.equal(r.evaluation.examples, 8);
  assert.ok(Number.isFinite(r.evaluation.accuracy) && Number.isFinite(r.evaluation.loss));
});

test('bad rows: a rejected promise naming the file and line; the page keeps working', async () => {
  const bad = 'label\ttext\npositive\ta fine film .\nnegative\n\tno label here\npositive\tgood .\n';
  const e1 = await rejection((api, model, text) => api.Trainer.finetune({ model, train: text }), AUSTEN, bad);
  assert.equal(e1.code, 'input');
  assert.ok(e1.isBertError);
  assert.match(e1.message, /^train\.tsv:3: 1 fields, but the header has 2 \(label, text\)/);
  const e2 = await rejection(
    (api, model, text) => api.Trainer.finetune({ model, train: new File([text], 'my-reviews.tsv') }),
    AUSTEN,
    'label\ttext\npositive\tok .\nnegative\t\n',
  );
  assert.match(e2.message, /^my-reviews\.tsv:3: empty text field/);
  const e3 = await rejection(
    (api, model) => api.Trainer.finetune({ model, train: [{ text: 'good .', label: 'a' }, { text: 'bad .', label: 'b' }], eval: 'label\ttext\na\tfine .\nc\tnew label .\n' }),
    AUSTEN,
  );
  assert.match(e3.message, /^eval\.tsv:3: label "c" does not occur in the training file train-rows\.jsonl, whose labels are a, b/);
  const e4 = await rejection((api, model) => api.Trainer.finetune({ model, train: [{ text: 'good .', label: 'a' }, { label: 'b' }] }), AUSTEN);
  assert.match(e4.message, /^train-rows\.jsonl:2: no "text" field/);
  const e5 = await rejection((api, model) => api.Trainer.finetune({ model, train: 'label\ttext\na\tgood .\n', task: 'qa' }), AUSTEN);
  assert.match(e5.message, /sequence classification/);
  const e6 = await rejection((api, model) => api.Trainer.finetune({ model, train: 'label\ttext\na\tgood .\n', epoch: 2 }), AUSTEN);
  assert.match(e6.message, /unknown field `epoch`/);
  // The CLI's rules for task files: a column the task needs, two labels or more, the format the name says.
  const e8 = await rejection((api, model) => api.Trainer.finetune({ model, train: [{ text: 'good .', label: 'a' }, { text: 'fine .', label: 'a' }] }), AUSTEN);
  assert.equal(e8.code, 'input');
  assert.match(e8.message, /every label is "a"/);
  const e9 = await rejection((api, model) => api.Trainer.finetune({ model, task: 'pair-cls', train: 'label\ttext\na\tgood .\nb\tbad .\n' }), AUSTEN);
  assert.equal(e9.code, 'input');
  assert.match(e9.message, /no text_pair column/);
  const e10 = await rejection((api, model) => api.Trainer.finetune({ model, train: new File(['text,label\ngood,a\n'], 'x.jsonl') }), AUSTEN);
  assert.equal(e10.code, 'input');
  assert.match(e10.message, /^x\.jsonl:1: not JSON/);
  // A model without a task head has no pipeline to run.
  const e7 = await rejection(async (api, model) => (await api.Bert.load(model)).predict('a text'), AUSTEN);
  assert.equal(e7.code, 'input');
  assert.match(e7.message, /no task head/);
  const ok = await inPage(async (api, model) => (await api.Bert.load(model)).fillMask('the [MASK] of it .', { topK: 2 }), AUSTEN);
  assert.equal(ok[0].length, 2);
  assert.deepEqual(problems, []);
});

test('Bert.predict equals bert-wgpu predict --json: text-classification (pairs), token-classification, question-answering', async () => {
  const pipelines = readJson(path.join(fixturesDir, 'finetune', 'pipelines.json'));
  const dir = tmpDir('predict');
  try {
    // Sentence pairs: native reads them from a TSV.
    const pairs = pipelines['text-classification'].inputs;
    const pairFile = path.join(dir, 'pairs.tsv');
    fs.writeFileSync(pairFile, `text\ttext_pair\n${pairs.map((p) => `${p.text}\t${p.text_pair}`).join('\n')}\n`);
    const texts = pipelines['token-classification'].inputs;
    const questions = pipelines['question-answering'].inputs;
    const qaFile = path.join(dir, 'qa.jsonl');
    fs.writeFileSync(qaFile, questions.map((q) => JSON.stringify(q)).join('\n') + '\n');
    const model = (name) => path.join(fixturesDir, 'finetune', 'trained', name);
    const native = {
      pair: runNative(['predict', '--model', model('pair'), '--input', pairFile, '--json']),
      pairOne: runNative(['predict', '--model', model('pair'), '--text-pair', pairs[0].text_pair, '--json', pairs[0].text]),
      ner: runNative(['predict', '--model', model('ner'), '--json', ...texts]),
      nerOne: runNative(['predict', '--model', model('ner'), '--json', texts[0]]),
      qa: runNative(['predict', '--model', model('qa'), '--input', qaFile, '--json']),
    };
    const browser = await inPage(
      async (api, pairs, texts, questions) => {
        const load = (name) => api.Bert.load(`/fixtures/finetune/trained/${name}/`);
        const [pair, ner, qa] = await Promise.all([load('pair'), load('ner'), load('qa')]);
        return {
          pair: await pair.predict(pairs),
          pairOne: await pair.predict(pairs[0]),
          ner: await ner.predict(texts),
          nerOne: await ner.predict(texts[0]),
          qa: await qa.predict(questions),
          qaOne: await qa.predict(questions[0]),
          architectures: [await pair.architecture(), await ner.architecture(), await qa.architecture()],
          labels: await ner.labels(),
        };
      },
      pairs,
      texts,
      questions,
    );
    assert.deepEqual(browser.architectures, ['BertForSequenceClassification', 'BertForTokenClassification', 'BertForQuestionAnswering']);
    assert.deepEqual(browser.labels, ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']);
    let worst = 0;
    /** Same JSON, numbers (scores) within 1e-4. */
    const same = (a, b, where) => {
      if (typeof b === 'number') {
        worst = Math.max(worst, Math.abs(a - b));
        assert.ok(typeof a === 'number' && Math.abs(a - b) < 1e-4, `${where}: ${a} vs native ${b}`);
      } else if (b && typeof b === 'object') {
        assert.deepEqual(Object.keys(a ?? {}).sort(), Object.keys(b).sort(), `${where}: keys`);
        for (const k of Object.keys(b)) same(a[k], b[k], `${where}.${k}`);
      } else {
        assert.equal(a, b, where);
      }
    };
    for (const k of ['pair', 'pairOne', 'ner', 'nerOne', 'qa']) same(browser[k], native[k], k);
    same(browser.qaOne, native.qa[0], 'qaOne');
    // And the numbers transformers printed for the same models and inputs.
    same(browser.pair, pipelines['text-classification'].outputs, 'pair vs transformers');
    same(browser.ner, pipelines['token-classification'].outputs, 'ner vs transformers');
    console.log(`  predict: browser vs native and transformers, largest score difference ${worst.toExponential(2)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
});
