// Shared by the browser tests: the static server, Debian's Chromium with WebGPU on SwiftShader (through
// playwright-core, no browser download), pages that record their errors, and the native binary.
//
// BERT_WGPU_BIN and CHROMIUM_PATH override where the two binaries are.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(webDir, '..');
export const fixturesDir = path.join(repoDir, 'tests', 'fixtures');
export const resultsDir = path.join(webDir, 'test-results');
export const nativeBin = process.env.BERT_WGPU_BIN || path.join(repoDir, 'target', 'release', 'bert-wgpu');

// Headless Chromium with WebGPU on SwiftShader: each flag was found necessary on a machine without a GPU.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

export const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/**
 * Checks the build outputs, starts the server and Chromium (with a fresh profile). Returns
 * { url, newPage(sink), openDemo(modelPath, sink), close() }.
 */
export async function startBrowser() {
  for (const [file, hint] of [
    [path.join(webDir, 'pkg', 'bert_wgpu.js'), 'run scripts/build-web.sh'],
    [nativeBin, 'run cargo build --release'],
  ]) {
    assert.ok(fs.existsSync(file), `${path.relative(repoDir, file)} is missing: ${hint}`);
  }
  fs.mkdirSync(resultsDir, { recursive: true });
  const server = await startServer();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-wgpu-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    });
  } catch (e) {
    await server.close();
    throw e;
  }

  /** A new page whose page errors and console errors land in `sink`; it logs everything on stdout. */
  const newPage = async (sink) => {
    const page = await context.newPage();
    page.on('pageerror', (e) => sink.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      console.log(`  [browser ${m.type()}] ${m.text()}`);
      if (m.type() === 'error') sink.push(`console error: ${m.text()}`);
    });
    return page;
  };

  /** The demo page on a model directory (a URL path on the server); waits until it is ready. */
  const openDemo = async (modelPath, sink, page) => {
    page ??= await newPage(sink);
    await page.goto(`${server.url}/index.html?model=${modelPath}`);
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 300_000 });
    const state = await page.evaluate(() => document.body.dataset.state);
    assert.equal(state, 'ready', `page status: ${await page.textContent('#status')}`);
    return page;
  };

  const close = async () => {
    await context.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };

  /** A blank page on the server, for driving the package's API directly (`import('/pkg/index.js')`). */
  const openBlank = async (sink) => {
    const page = await newPage(sink);
    await page.goto(`${server.url}/tests/blank.html`);
    return page;
  };

  return { url: server.url, newPage, openDemo, openBlank, close };
}

/** Runs the native binary and parses its --json output. */
export function runNative(args) {
  const out = execFileSync(nativeBin, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 300_000,
  });
  try {
    return JSON.parse(out);
  } catch (e) {
    throw new Error(`bert-wgpu ${args.join(' ')} printed no JSON (${e.message}): ${JSON.stringify(out.slice(0, 200))}`);
  }
}

/** Lists of predictions, one per [MASK], from the pipeline shape (one mask: a list; several: lists). */
export const perMask = (output) => (Array.isArray(output[0]) ? output : [output]);

// f32 on SwiftShader vs f32 on the native adapter (and vs PyTorch on the CPU): probabilities agree to well
// under 1e-4 for a 2-layer model (about 1e-7 seen); a larger gap means a real difference in a kernel.
export const SCORE_TOL = 1e-4;

/**
 * Same tokens in the same order, scores within `tol`. Where two candidates' scores are within `tol` of
 * each other their order may differ between devices: a swapped token only has to appear in the other list
 * with a score within `tol`, or (at the top-k boundary) score within `tol` of the other list's last score.
 */
export function assertSamePredictions(actual, expected, what, { sequences = true, tol = SCORE_TOL } = {}) {
  const a = perMask(actual);
  const e = perMask(expected);
  assert.equal(a.length, e.length, `${what}: number of [MASK]s`);
  let maxDiff = 0;
  a.forEach((preds, m) => {
    const want = e[m];
    assert.equal(preds.length, want.length, `${what}: mask ${m + 1}: number of predictions`);
    preds.forEach((p, i) => {
      const where = `${what}: mask ${m + 1}, rank ${i + 1} (${p.token_str} ${p.score})`;
      maxDiff = Math.max(maxDiff, Math.abs(p.score - want[i].score));
      assert.ok(Math.abs(p.score - want[i].score) <= tol, `${where}: score vs ${want[i].score}`);
      const same = want.find((w) => w.token === p.token);
      if (same) {
        assert.ok(Math.abs(p.score - same.score) <= tol, `${where}: score vs ${same.score}`);
        assert.equal(p.token_str, same.token_str, `${where}: token_str`);
        if (sequences) assert.equal(p.sequence, same.sequence, `${where}: sequence`);
        if (p.token !== want[i].token) {
          assert.ok(Math.abs(same.score - want[i].score) <= tol, `${where}: order vs ${want[i].token_str}`);
        }
      } else {
        const last = want[want.length - 1].score;
        assert.ok(Math.abs(p.score - last) <= tol, `${where}: token ${p.token} not in the expected top-k`);
      }
    });
  });
  console.log(`  ${what}: same top-${a[0].length}, largest score difference ${maxDiff.toExponential(2)}`);
}

/** The files of a store-only zip (what the package's zip() writes), checking every CRC. */
export function unzipStored(buffer) {
  const bytes = new Uint8Array(buffer);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
  assert.ok(end >= 0, 'zip: no end of central directory');
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const files = {};
  for (let i = 0; i < count; i++) {
    assert.equal(view.getUint32(at, true), 0x02014b50, 'zip: central directory entry');
    assert.equal(view.getUint16(at + 10, true), 0, 'zip: stored (method 0)');
    const crc = view.getUint32(at + 16, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    assert.equal(view.getUint32(local, true), 0x04034b50, `zip: local header of ${name}`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = bytes.subarray(start, start + size);
    assert.equal(crc32(data), crc, `zip: CRC of ${name}`);
    files[name] = data;
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return files;
}

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * `inPage(fn, ...args)` runs `fn(api, ...args)` in the page `getPage()` returns, with the package imported as
 * `api`; `rejection(fn, ...args)` gives `{ code, name, message, isBertError }` of the promise's rejection, or
 * 'resolved'. Functions travel as source text, so they use only their arguments.
 */
/** The browser and one page for the tests of a file, started before them and closed after: the page is the
 * blank test page (`'blank'`) or a plain new one (`'new'`); `problems` collects its errors. */
export function browserForTests(kind = 'blank') {
  const session = { browser: undefined, page: undefined, problems: [] };
  before(async () => {
    session.browser = await startBrowser();
    const open = kind === 'blank' ? session.browser.openBlank : session.browser.newPage;
    session.page = await open.call(session.browser, session.problems);
  });
  after(async () => {
    await session.browser?.close();
  });
  return session;
}

export function packageCaller(getPage) {
  const inPage = (fn, ...args) =>
    getPage().evaluate(
      async ([source, args]) => {
        const api = await import('/pkg/index.js');
        // eslint-disable-next-line no-new-func
        return new Function('api', 'args', `return (${source})(api, ...args);`)(api, args);
      },
      [fn.toString(), args],
    );
  const rejection = (fn, ...args) =>
    inPage(
      new Function(
        'api',
        '...args',
        `return (${fn.toString()})(api, ...args).then(() => 'resolved', (e) => ({ code: e.code, name: e.name, message: e.message, isBertError: e instanceof api.BertError }));`,
      ),
      ...args,
    );
  return { inPage, rejection };
}
