// The browser twin of `bert-wgpu bench`: forward and training tokens/s of BERT-tiny and BERT-mini (random
// weights) on the page's adapter, printed with the adapter's name. Figures are printed, never asserted
// beyond being positive.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';

let browser;

before(async () => {
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
});

// Two candidates keep the tuning short on SwiftShader; the first page tunes tiny's shapes.
const KERNELS = 'kernels=portable,register-4x8';

test('bench page: kernels tuned once, then read from IndexedDB; the candidates table', async () => {
  const seen = [];
  const page = await browser.newPage(seen);
  const query = `preset=tiny&batch=2&seq=32&masked=4&reps=1&${KERNELS}`;
  await page.goto(`${browser.url}/bench.html?${query}&table=1`);
  const first = await page.evaluate(() => window.benchResult);
  assert.ok(first.kernels.tuned > 0, 'the first visit tunes');
  assert.deepEqual(first.kernels.excluded, []);
  for (const kernel of Object.values(first.kernels.choices)) assert.ok(['portable', 'register-4x8'].includes(kernel));
  const table = first.matmulTable.table;
  assert.match(table[0], /portable\s+register-4x8\s+auto/);
  assert.match(table.at(-1), /auto reaches at least \d+% of the best fixed candidate/);
  assert.ok(first.matmulTable.rows.every((r) => r.candidates.every(([, gflops]) => gflops > 0)));
  console.log(table.join('\n'));
  await page.goto(`${browser.url}/bench.html?${query}`);
  const second = await page.evaluate(() => window.benchResult);
  assert.equal(second.kernels.tuned, 0, 'the second visit tunes nothing');
  assert.ok(second.kernels.fromCache >= Object.keys(first.kernels.choices).length);
  assert.deepEqual(second.kernels.choices, first.kernels.choices);
  assert.match(await page.textContent('#out'), /choices read from IndexedDB/);
  assert.deepEqual(seen, []);
  await page.close();
});

for (const [preset, query] of [
  ['tiny', `preset=tiny&batch=8&seq=128&reps=2&${KERNELS}`],
  ['mini', `preset=mini&batch=8&seq=128&reps=2&${KERNELS}`],
]) {
  test(`bench page: ${preset}`, async () => {
    const seen = [];
    const page = await browser.newPage(seen);
    await page.goto(`${browser.url}/bench.html?${query}`);
    const r = await page.evaluate(() => window.benchResult);
    console.log(
      `  ${preset}, batch ${r.batch} x ${r.seq} on ${r.adapterName} (${r.adapter.backend}): forward ` +
        `${r.forwardTokensPerSecond.toFixed(0)} tokens/s, training ${r.trainTokensPerSecond.toFixed(0)} tokens/s`,
    );
    assert.ok(r.forwardTokensPerSecond > 0 && Number.isFinite(r.forwardTokensPerSecond));
    assert.ok(r.trainTokensPerSecond > 0 && Number.isFinite(r.trainTokensPerSecond));
    assert.ok(r.adapterName.length > 0);
    assert.match(await page.textContent('#out'), /training step/);
    assert.deepEqual(seen, []);
    await page.close();
  });
}
