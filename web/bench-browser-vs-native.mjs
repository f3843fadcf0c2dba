// BERT-mini's training step in Chromium (WebGPU on SwiftShader) and in the native binary on the very same
// SwiftShader, through the Vulkan ICD that Debian's chromium package installs: the gap is the cost of WASM,
// the browser's WebGPU and the package's facade. Both choose their matmul kernels by measurement first (the
// browser on a fresh profile, the native binary in a fresh cache directory). Prints both and the ratio.
//
//   node web/bench-browser-vs-native.mjs [preset] [reps]      # default: mini 2
//
// Needs `cargo build --release` and scripts/build-web.sh; takes several minutes (SwiftShader is slow).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nativeBin, startBrowser } from './tests/harness.mjs';

const preset = process.argv[2] ?? 'mini';
const reps = Number(process.argv[3] ?? 2);
const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!fs.existsSync(icd)) throw new Error(`${icd} is missing: install Debian's chromium package`);

const browser = await startBrowser();
let web;
try {
  const page = await browser.newPage([]);
  page.setDefaultTimeout(1_800_000);
  await page.goto(`${browser.url}/bench.html?preset=${preset}&batch=8&seq=128&reps=${reps}`);
  web = await page.evaluate(() => window.benchResult);
} finally {
  await browser.close();
}

const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-wgpu-tune-'));
const out = execFileSync(nativeBin, ['bench', '--training', '--reps', String(reps)], {
  encoding: 'utf8',
  env: { ...process.env, VK_ICD_FILENAMES: icd, BERT_WGPU_CACHE_DIR: cache },
  stdio: ['ignore', 'pipe', 'inherit'],
});
fs.rmSync(cache, { recursive: true, force: true });
// The last "mini ... tokens/s" line is auto's (after tuning).
const lines = out.split('\n').filter((l) => /^\s+mini\s/.test(l));
const native = Number(lines.at(-1)?.match(/([\d.]+) tokens\/s/)?.[1]);
if (preset !== 'mini' || !Number.isFinite(native)) throw new Error(`no native mini figure in:\n${out}`);

console.log(`adapter (both): SwiftShader; browser: ${web.adapterName}`);
const picks = {};
for (const k of Object.values(web.kernels?.choices ?? {})) picks[k] = (picks[k] ?? 0) + 1;
console.log(`browser kernels (shape classes per kernel): ${JSON.stringify(picks)}`);
console.log(`BERT-mini training step, batch 8 x 128, 20 masked per sequence, best of ${reps}:`);
console.log(`  Chromium (WASM + WebGPU):     ${web.trainTokensPerSecond.toFixed(1).padStart(8)} tokens/s`);
console.log(`  native on SwiftShader's ICD:  ${native.toFixed(1).padStart(8)} tokens/s`);
console.log(`  native / Chromium:            ${(native / web.trainTokensPerSecond).toFixed(2).padStart(8)}x`);
