// The demo page's main flows in headless Chromium (WebGPU on SwiftShader), without console errors: fill-mask
// bars and the attention heatmap with the shipped model, "watch it learn" (loss curve, probe predictions,
// the masked / replaced / kept tokens of a batch), the zip download that the native binary loads with the
// same predictions, fine-tuning a classifier (a bad TSV's message, the accuracy curve, try it, the zip
// predicting natively), a device lost mid-training (message, snapshot download, the page keeps working), and the
// page without WebGPU. Screenshots go to web/test-results/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertSamePredictions, repoDir, resultsDir, runNative, startBrowser, unzipStored } from './harness.mjs';

const MODEL = '/pretrained/austen-bert-tiny/';
const PROBE = 'it is a truth universally acknowledged , that a single man in possession of a good fortune , must be in want of a [MASK] .';

let browser;
let page;
const problems = [];

before(async () => {
  browser = await startBrowser();
  page = await browser.openDemo(MODEL, problems);
});

after(async () => {
  await browser?.close();
});

const shot = async (p, name) => {
  const file = path.join(resultsDir, `${name}.png`);
  await p.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot: ${path.relative(repoDir, file)}`);
};

test('fill-mask: the form shows one bar per prediction for each [MASK]', async () => {
  await page.fill('#text', 'my dear mr . bennet , said his [MASK] to him one [MASK] .');
  await page.fill('#topk', '4');
  await page.click('#run');
  await page.waitForFunction(() => /Done in/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.locator('#results .mask-result').count(), 2);
  assert.equal(await page.locator('#results .bar-row').count(), 8);
  assert.deepEqual(problems, []);
});

test('attention: a heatmap for every layer and head', async () => {
  await page.fill('#attention-text', 'the cat sat on the mat .');
  await page.click('#attention-run');
  await page.waitForFunction(() => /Done in/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  assert.equal(await page.locator('#layer option').count(), 2);
  assert.equal(await page.locator('#head option').count(), 2);
  await page.selectOption('#layer', '1');
  await page.selectOption('#head', '1');
  // Some cells are drawn: the canvas is not blank.
  const inked = await page.evaluate(() => {
    const c = document.getElementById('heatmap');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
    return n;
  });
  assert.ok(inked > 10_000, `inked pixels: ${inked}`);
  assert.deepEqual(problems, []);
});

test('watch it learn: loss curve, probe predictions and the masking of a batch; the download loads natively', async () => {
  await page.fill('#steps', '12');
  await page.fill('#batch', '4');
  await page.fill('#seq', '64');
  await page.fill('#probe', PROBE);
  await page.click('#train-start');
  await page.waitForFunction(() => document.body.dataset.training === 'done', null, { timeout: 600_000 });
  assert.match(await page.textContent('#train-status'), /step 12\/12: loss \d/);
  assert.ok((await page.locator('#loss-curve polyline').count()) === 2);
  assert.ok((await page.locator('#probe-results .probe-row').count()) >= 2, 'probe rows at steps 0, 10, 12');
  const kinds = await page.evaluate(() => [...document.querySelectorAll('#batch-view .tok')].map((t) => t.className));
  assert.ok(kinds.some((k) => k.includes('special')), 'shows [CLS] / [SEP]');
  assert.ok(kinds.some((k) => /masked|random|kept/.test(k)), 'shows the chosen tokens');
  assert.ok(kinds.some((k) => k.includes('seg1')), 'shows segment B');
  await shot(page, 'demo');
  fs.copyFileSync(path.join(resultsDir, 'demo.png'), path.join(resultsDir, 'screenshot.png'));

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'bert-wgpu-trained.zip');
  const zipPath = path.join(resultsDir, 'bert-wgpu-trained.zip');
  await download.saveAs(zipPath);
  const files = unzipStored(fs.readFileSync(zipPath));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-wgpu-download-'));
  try {
    for (const [name, bytes] of Object.entries(files)) {
      assert.ok(name.startsWith('bert-wgpu-trained/'), name);
      fs.writeFileSync(path.join(dir, path.basename(name)), bytes);
    }
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(fs.existsSync(path.join(dir, f)), f);
    const native = runNative(['fill-mask', '--model', dir, '--top-k', '5', '--json', PROBE]);
    const inBrowser = await page.evaluate((t) => window.bertDemo.trainedFillMask(t, 5), PROBE);
    assertSamePredictions(inBrowser, native, 'downloaded model: browser vs native');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
});

test('fine-tune a classifier: a bad TSV gives a message naming the line; the bundled sample trains with a live accuracy curve; try it; the zip predicts the same natively', async () => {
  // An uploaded file with a bad row: a visible, specific message, and the page keeps working.
  await page.setInputFiles('#ft-train-file', {
    name: 'bad-reviews.tsv',
    mimeType: 'text/tab-separated-values',
    buffer: Buffer.from('label\ttext\npositive\ta fine film .\nnegative a row without its tab\n'),
  });
  assert.equal(await page.inputValue('#ft-data'), 'upload');
  await page.click('#ft-start');
  await page.waitForFunction(() => document.body.dataset.finetune === 'failed', null, { timeout: 60_000 });
  assert.match(await page.textContent('#ft-status'), /bad-reviews\.tsv:3: 1 fields, but the header has 2 \(label, text\)/);
  assert.equal(await page.getAttribute('#ft-status', 'class'), 'error');
  await shot(page, 'finetune-bad-rows');
  assert.ok(await page.isEnabled('#ft-start'));
  await page.fill('#text', 'the [MASK] of it .');
  await page.click('#run');
  await page.waitForFunction(() => /Done in/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });

  // The bundled sample, a short run: 48 rows, 2 epochs of 6 steps, 48 eval rows after each epoch.
  await page.selectOption('#ft-data', 'bundled');
  await page.fill('#ft-rows', '48');
  await page.fill('#ft-eval-rows', '48');
  await page.fill('#ft-epochs', '2');
  await page.fill('#ft-batch', '8');
  await page.click('#ft-start');
  await page.waitForFunction(() => document.body.dataset.finetune === 'done', null, { timeout: 300_000 });
  const status = await page.textContent('#ft-status');
  assert.match(status, /step 12\/12 \(epoch 2\): loss \d\.\d+, training accuracy \d+\.\d%, eval accuracy \d+\.\d% → \d+\.\d%/);
  const run = await page.evaluate(() => window.bertDemo.lastFinetune());
  assert.equal(run.progress.length, 12);
  for (const m of run.progress) assert.ok(Number.isFinite(m.loss) && m.accuracy >= 0 && m.accuracy <= 1, JSON.stringify(m));
  assert.equal(await page.locator('#ft-curve polyline').count(), 3);
  assert.equal(await page.locator('#ft-curve .eval-point').count(), 2);
  const points = await page.getAttribute('#ft-curve polyline:nth-of-type(2)', 'points');
  assert.equal(points.trim().split(' ').length, 12, 'one training-accuracy point a step');

  // Try it: label bars for a typed sentence.
  const sentence = 'A tedious, lifeless mess of a movie.';
  await page.fill('#ft-text', sentence);
  await page.click('#ft-try');
  await page.waitForFunction(() => /Done in/.test(document.getElementById('status').textContent), null, { timeout: 60_000 });
  const labels = await page.locator('#ft-results .bar-row .label').allTextContents();
  assert.deepEqual(labels.slice().sort(), ['negative', 'positive']);
  await shot(page, 'finetune');
  const section = path.join(resultsDir, 'finetune-section.png');
  await page.locator('#finetune-section').screenshot({ path: section });
  console.log(`  screenshot: ${path.relative(repoDir, section)}`);

  // The downloaded zip is a Hugging Face directory that bert-wgpu predict loads, with the same scores.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#ft-download')]);
  assert.equal(download.suggestedFilename(), 'bert-wgpu-classifier.zip');
  const files = unzipStored(fs.readFileSync(await download.path()));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-wgpu-classifier-'));
  try {
    for (const [name, bytes] of Object.entries(files)) {
      assert.ok(name.startsWith('bert-wgpu-classifier/'), name);
      fs.writeFileSync(path.join(dir, path.basename(name)), bytes);
    }
    const inBrowser = await page.evaluate((t) => window.bertDemo.classify(t), sentence);
    const native = runNative(['predict', '--model', dir, '--json', sentence]);
    assert.equal(native[0].label, inBrowser[0].label);
    native.forEach((s, i) => assert.ok(Math.abs(s.score - inBrowser[i].score) < 1e-4, `${s.label}: ${inBrowser[i].score} vs native ${s.score}`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(problems, []);
});

test('a device lost mid-training: a clear message, the last copy downloads, the page keeps working', async () => {
  await page.fill('#steps', '200');
  await page.click('#train-start');
  await page.waitForFunction(() => /step 1[2-9]\/200/.test(document.getElementById('train-status').textContent), null, { timeout: 300_000 });
  await page.evaluate(() => window.bertDemo.loseDevice());
  await page.waitForFunction(() => document.body.dataset.training === 'failed', null, { timeout: 120_000 });
  const status = await page.textContent('#train-status');
  assert.match(status, /GPU device was lost/);
  assert.match(status, /The copy of step 10 can still be downloaded/);
  await shot(page, 'device-lost');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const files = unzipStored(fs.readFileSync(await download.path()));
  assert.ok(Object.keys(files).some((n) => n.endsWith('model.safetensors')));
  assert.match(await page.textContent('#train-status'), /copy of step 10\b/);
  // The page keeps working: fill-mask loads the model again on a new device.
  const again = await page.evaluate(() => window.bertDemo.fillMask('the [MASK] of it .', 3));
  assert.equal(again[0].length, 3);
  // The browser reports the lost device and the failed calls itself; nothing else.
  const other = problems.filter((p) => !/lost|destroyed|Device|GPU|readback/i.test(p));
  assert.deepEqual(other, []);
  problems.length = 0;
});

test('a model URL that is not there: a visible error naming the file', async () => {
  const seen = [];
  const p = await browser.newPage(seen);
  await p.goto(`${browser.url}/index.html?model=/fixtures/no-such-model/`);
  await p.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
  assert.match(await p.textContent('#status'), /config\.json: HTTP 404/);
  await shot(p, 'missing-model');
  assert.ok(seen.every((s) => /404/.test(s)), `only the 404s are reported: ${seen.join('; ')}`);
  await p.close();
});

test('a browser without WebGPU: a clear message, no crash', async () => {
  const seen = [];
  const p = await browser.newPage(seen);
  await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
  await p.goto(`${browser.url}/index.html`);
  await p.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 60_000 });
  assert.match(await p.textContent('#status'), /no WebGPU/);
  assert.ok(await p.isDisabled('#run'));
  await shot(p, 'no-webgpu');
  assert.deepEqual(seen, []);
  await p.close();
});
