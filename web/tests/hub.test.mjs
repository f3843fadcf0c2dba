// Models by hub id in headless Chromium: Bert.load('org/name') from the hub stand-in
// (scripts/hub_standin.py on 127.0.0.1, large files redirected to 127.0.0.2 as the hub sends them to its
// CDN), kept in the Cache API so that a second load makes no request (the stand-in counts them), listed and
// cleared; sharded weights joined; the demo page with ?model=org/name; the errors of a missing or private
// model.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import readline from 'node:readline';
import { spawn } from 'node:child_process';
import { assertSamePredictions, fixturesDir, repoDir, runNative, startBrowser, packageCaller } from './harness.mjs';

const ID = 'bert-wgpu-tests/tiny-bert';
const TEXT = 'the king [MASK] to paris .';
const tinyDir = path.join(fixturesDir, 'tiny-bert');

let browser;
let page;
let hub;
let endpoint;
const problems = [];

/** The page's problems apart from the browser's own log of answers the test asks for (404, 401). */
const unexpected = () => problems.filter((p) => !/Failed to load resource: the server responded with a status of (404|401)/.test(p));

before(async () => {
  hub = spawn('python3', [path.join(repoDir, 'scripts', 'hub_standin.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  endpoint = await new Promise((resolve, reject) => {
    hub.on('error', reject);
    readline.createInterface({ input: hub.stdout }).once('line', resolve);
  });
  assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  browser = await startBrowser();
  page = await browser.openBlank(problems);
});

after(async () => {
  await browser?.close();
  hub?.stdin.end();
});

/** The stand-in's requests so far, without the log's own. */
async function requests() {
  const log = await (await fetch(`${endpoint}/_log`)).json();
  return log.filter(([, p]) => p !== '/_log');
}

const { inPage } = packageCaller(() => page);

const load = (id, text) =>
  inPage(
    async (api, id, endpoint, text) => {
      const events = [];
      const bert = await api.Bert.load(id, { endpoint, progress: (e) => events.push(e) });
      return { predictions: await bert.fillMask(text, { topK: 5 }), events };
    },
    id,
    endpoint,
    text,
  );

test('Bert.load(id) downloads once, then loads from the Cache API without a request', async () => {
  await inPage((api) => api.clearCache());
  const native = runNative(['fill-mask', '--model', tinyDir, '--top-k', '5', '--json', TEXT]);

  const first = await load(ID, TEXT);
  assertSamePredictions(first.predictions, native, 'hub id vs native directory');
  const downloaded = first.events.filter((e) => e.status === 'done').map((e) => e.file);
  assert.ok(downloaded.includes('model.safetensors') && downloaded.includes('config.json'), JSON.stringify(first.events));
  const weights = first.events.filter((e) => e.status === 'progress' && e.file === 'model.safetensors').at(-1);
  assert.ok(weights.loaded > 0 && weights.loaded === weights.total, JSON.stringify(weights));
  const seen = (await requests()).length;
  assert.ok(seen >= 6, `only ${seen} requests for the first load`);

  const second = await load(ID, TEXT);
  assert.deepEqual(second.predictions, first.predictions);
  assert.equal((await requests()).length, seen, 'the second load asked the hub');
  assert.ok(second.events.every((e) => e.status === 'cached'), JSON.stringify(second.events));

  const cached = await inPage((api) => api.cachedModels());
  const entry = cached.find((m) => m.id === ID);
  assert.equal(entry.revision, 'main');
  assert.equal(entry.endpoint, endpoint);
  assert.ok(entry.files.includes('model.safetensors') && entry.bytes > 0, JSON.stringify(entry));

  await inPage((api, id) => api.clearCache(id), ID);
  assert.equal((await inPage((api) => api.cachedModels())).find((m) => m.id === ID), undefined);
  await load(ID, TEXT);
  assert.ok((await requests()).length > seen, 'a cleared model was not fetched again');
  assert.deepEqual(problems, []);
});

test('sharded weights from the hub are joined into one model', async () => {
  const native = runNative(['fill-mask', '--model', tinyDir, '--top-k', '5', '--json', TEXT]);
  const sharded = await load('tiny-bert-sharded', TEXT);
  assertSamePredictions(sharded.predictions, native, 'sharded hub model vs native directory');
  assert.ok(sharded.events.some((e) => e.file === 'model-00002-of-00002.safetensors'));
  assert.deepEqual(unexpected(), []);
});

test('a missing or private model is one clear error', async () => {
  const reject = (id) =>
    inPage(
      (api, id, endpoint) => api.Bert.load(id, { endpoint }).then(() => 'resolved', (e) => ({ code: e.code, message: e.message })),
      id,
      endpoint,
    );
  const missing = await reject('bert-wgpu-tests/no-such-model');
  assert.equal(missing.code, 'network');
  assert.match(missing.message, /bert-wgpu-tests\/no-such-model: no config\.json/);
  const private_ = await reject('bert-wgpu-tests/private');
  assert.equal(private_.code, 'network');
  assert.match(private_.message, /401.*private or gated/);
  assert.deepEqual(unexpected(), []);
});

test('the demo page loads a hub id from ?model=', async () => {
  const demo = await browser.openDemo(`${ID}&endpoint=${encodeURIComponent(endpoint)}`, problems);
  const predictions = await demo.evaluate((t) => window.bertDemo.fillMask(t, 5), TEXT);
  const native = runNative(['fill-mask', '--model', tinyDir, '--top-k', '5', '--json', TEXT]);
  assertSamePredictions(predictions, native, 'demo with a hub id vs native directory');
  assert.match(await demo.textContent('#model'), new RegExp(ID));
  await demo.close();
  assert.deepEqual(unexpected(), []);
});
