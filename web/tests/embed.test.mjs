// Browser test: sentence embeddings in headless Chromium (WebGPU on SwiftShader) against the native binary
// (`bert-wgpu embed --normalize --json`), on tiny-bert and on all-MiniLM-L6-v2 (scripts/fetch-minilm.sh;
// required under CI=true, skipped elsewhere when missing).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fixturesDir, readJson, repoDir, runNative, startBrowser } from './harness.mjs';

const SENTENCES = readJson(path.join(fixturesDir, 'minilm-sentences.json'));
// Unit vectors in f32; the two devices sum in different orders (about 1e-7 seen).
const EMBED_TOL = 1e-4;

let browser;

before(async () => {
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
});

/** Loads a model (a URL path on the test server) in a fresh page and embeds `texts` there. */
async function browserEmbed(modelPath, texts) {
  const seen = [];
  const page = await browser.openDemo(modelPath, seen);
  try {
    const vectors = await page.evaluate(
      (t) => window.bertDemo.embed(t, { pooling: 'mean', normalize: true }).then((vs) => vs.map((v) => [...v])),
      texts,
    );
    assert.deepEqual(seen, [], 'the page reported errors');
    return vectors;
  } finally {
    await page.close();
  }
}

function assertCloseVectors(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: number of vectors`);
  let maxDiff = 0;
  actual.forEach((v, i) => {
    assert.equal(v.length, expected[i].length, `${what}: vector ${i} length`);
    v.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - expected[i][j]))));
  });
  console.log(`  ${what}: ${actual.length} x ${actual[0].length}, largest difference ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff <= EMBED_TOL, `${what}: largest difference ${maxDiff} > ${EMBED_TOL}`);
}

const nativeEmbed = (modelDir, texts) => runNative(['embed', '--model', modelDir, '--normalize', '--json', ...texts]);

test('embed on tiny-bert matches the native binary', async () => {
  const modelDir = path.join(fixturesDir, 'tiny-bert');
  const inBrowser = await browserEmbed('/fixtures/tiny-bert/', SENTENCES);
  assertCloseVectors(inBrowser, nativeEmbed(modelDir, SENTENCES), 'tiny-bert, browser vs native');
});

const minilmDir = path.join(repoDir, 'models', 'all-MiniLM-L6-v2');
const haveMinilm = fs.existsSync(path.join(minilmDir, 'model.safetensors'));

test(
  'embed on all-MiniLM-L6-v2 matches the native binary',
  { skip: !haveMinilm && !process.env.CI && 'models/all-MiniLM-L6-v2 missing (scripts/fetch-minilm.sh)' },
  async () => {
    assert.ok(haveMinilm, 'models/all-MiniLM-L6-v2 is missing: run scripts/fetch-minilm.sh');
    const inBrowser = await browserEmbed('/models/all-MiniLM-L6-v2/', SENTENCES);
    assertCloseVectors(inBrowser, nativeEmbed(minilmDir, SENTENCES), 'all-MiniLM-L6-v2, browser vs native');
  },
);
