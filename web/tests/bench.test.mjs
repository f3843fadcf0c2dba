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

for (const [preset, query] of [
  ['tiny', 'preset=tiny&batch=8&seq=128&reps=2'],
  ['mini', 'preset=mini&batch=8&seq=128&reps=2'],
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
