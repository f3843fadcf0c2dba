// Browser test: the demo page (its worker) runs fill-mask on tests/fixtures/tiny-bert in headless Chromium (WebGPU on
// SwiftShader) and must agree with the native binary (`bert-wgpu fill-mask --json`) and with transformers'
// pipeline output recorded in tests/fixtures/tiny-bert-fill-mask.json.
//
// Needs: web/pkg (scripts/build-web.sh), target/release/bert-wgpu (cargo build --release), Debian's
// chromium. Run: cd web && npm test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  assertSamePredictions,
  browserForTests,
  fixturesDir,
  perMask,
  readJson,
  repoDir,
  resultsDir,
  runNative,
} from './harness.mjs';

const modelDir = path.join(fixturesDir, 'tiny-bert');
const reference = readJson(path.join(fixturesDir, 'tiny-bert-fill-mask.json'));

// The texts of the transformers reference: one with a single [MASK], one with two.
const ONE_MASK = 'it is a truth universally acknowledged that a single man must be in want of a [MASK] .';
const TWO_MASKS = 'the [MASK] of france is [MASK] .';
const TOP_K = 5;

const session = browserForTests('new'); // the browser and page of this file's tests
const { problems } = session; // page errors and console errors

function assertNoProblems() {
  assert.deepEqual(problems, [], 'the page reported errors');
}

test('Chromium offers a WebGPU adapter (SwiftShader)', async () => {
  await session.page.goto(`${session.browser.url}/tests/blank.html`);
  const adapter = await session.page.evaluate(async () => {
    if (!navigator.gpu) return { error: 'navigator.gpu is missing' };
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { error: 'requestAdapter() returned null' };
    const i = a.info ?? {};
    return {
      vendor: i.vendor,
      architecture: i.architecture,
      description: i.description,
      isFallbackAdapter: i.isFallbackAdapter ?? a.isFallbackAdapter,
      subgroups: a.features.has('subgroups'),
      subgroupMinSize: i.subgroupMinSize,
      subgroupMaxSize: i.subgroupMaxSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: a.limits.maxStorageBuffersPerShaderStage,
    };
  });
  console.log(`  WebGPU adapter: ${JSON.stringify(adapter)}`);
  assert.equal(adapter.error, undefined, adapter.error);
  assertNoProblems();
});

test('the page loads tiny-bert and shows the adapter', async () => {
  await session.browser.openDemo('/fixtures/tiny-bert/', problems, session.page);
  const info = await session.page.evaluate(() => window.bertDemo.ready);
  console.log(`  bert-wgpu adapter info: ${JSON.stringify(info)}`);
  assert.equal(info.backend, 'webgpu');
  assert.match(await session.page.textContent('#adapter'), /Adapter:/);
  assertNoProblems();
});

for (const [name, text] of [
  ['one [MASK]', ONE_MASK],
  ['two [MASK]s', TWO_MASKS],
]) {
  test(`fill-mask with ${name} matches the native binary and transformers`, async () => {
    const inBrowser = await session.page.evaluate(([t, k]) => window.bertDemo.fillMask(t, k), [text, TOP_K]);
    const native = runNative(['fill-mask', '--model', modelDir, '--top-k', String(TOP_K), '--json', text]);
    assertSamePredictions(inBrowser, native, 'browser vs native');
    // transformers' multi-mask `sequence` keeps the other [MASK] and the special tokens; compare the rest.
    assertSamePredictions(inBrowser, reference[text], 'browser vs transformers', { sequences: false });

    const rows = await session.page.locator('#results .bar-row').count();
    assert.equal(rows, perMask(inBrowser).length * TOP_K, 'bars in the results');
    await session.page.fill('#text', text);
    const shot = path.join(resultsDir, `fill-mask-${name.replace(/\W+/g, '-').replace(/^-|-$/g, '')}.png`);
    await session.page.screenshot({ path: shot, fullPage: true });
    console.log(`  screenshot: ${path.relative(repoDir, shot)}`);
    assertNoProblems();
  });
}

test('the form runs fill-mask when clicked', async () => {
  await session.page.fill('#text', 'the [MASK] of france .');
  await session.page.fill('#topk', '3');
  await session.page.click('#run');
  await session.page.waitForFunction(() => /Done in/.test(document.getElementById('status').textContent), null, {
    timeout: 60_000,
  });
  assert.equal(await session.page.locator('#results .bar-row').count(), 3);
  assertNoProblems();
});

test('a text without [MASK] is a rejected promise with the library message', async () => {
  const message = await session.page.evaluate(() =>
    window.bertDemo.fillMask('no mask here', 5).then(
      () => 'resolved',
      (e) => `${e instanceof Error ? 'Error' : typeof e}: ${e.message}`,
    ),
  );
  assert.match(message, /^Error: .*\[MASK\]/);
  assertNoProblems();
});
