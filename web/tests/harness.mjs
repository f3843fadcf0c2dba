// Shared by the browser tests: the static server, Debian's Chromium with WebGPU on SwiftShader (through
// playwright-core, no browser download), pages that record their errors, and the native binary.
//
// BERT_WGPU_BIN and CHROMIUM_PATH override where the two binaries are.

import assert from 'node:assert/strict';
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

// DESIGN.md section 7: every flag was needed on this machine for WebGPU on SwiftShader.
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

  return { url: server.url, newPage, openDemo, close };
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
