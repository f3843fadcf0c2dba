// The package's API in a page (no worker) in headless Chromium (WebGPU on SwiftShader): every way to load a
// model, fill-mask equal to the native binary, attention maps, save and reload, and the errors: a 404, a
// truncated weights file, a text without [MASK], a model over the adapter's limits, no WebGPU, no adapter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { browserForTests, assertSamePredictions, repoDir, runNative, packageCaller } from './harness.mjs';

const AUSTEN = '/pretrained/austen-bert-tiny/';
const austenDir = path.join(repoDir, 'pretrained', 'austen-bert-tiny');
const TEXTS = [
  'it is a truth universally acknowledged that a single man must be in want of a [MASK] .',
  'my dear mr . [MASK] , said his lady to him one [MASK] .',
];

const session = browserForTests('blank'); // the browser and page of this file's tests
const { problems } = session; // page errors and console errors

const { inPage, rejection } = packageCaller(() => session.page);

test('Bert.load from a URL: fill-mask for every [MASK] equals the native binary', async () => {
  for (const text of TEXTS) {
    const inBrowser = await inPage(async (api, url, t) => (await api.Bert.load(url)).fillMask(t, { topK: 5 }), AUSTEN, text);
    const native = runNative(['fill-mask', '--model', austenDir, '--top-k', '5', '--json', text]);
    assertSamePredictions(inBrowser, native, `austen-bert-tiny "${text.slice(0, 30)}…" browser vs native`);
  }
  assert.deepEqual(problems, []);
});

test('Bert.load from Files and from { config, weights, tokenizer } bytes gives the same predictions', async () => {
  const results = await inPage(async (api, url, text) => {
    const names = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
    const blobs = await Promise.all(names.map(async (n) => new File([await (await fetch(url + n)).blob()], n)));
    const fromFiles = await api.Bert.load(blobs);
    const bytes = async (n) => new Uint8Array(await (await fetch(url + n)).arrayBuffer());
    const fromBytes = await api.Bert.load({
      config: await bytes('config.json'),
      weights: (await bytes('model.safetensors')).buffer,
      tokenizer: await bytes('tokenizer.json'),
    });
    return [await fromFiles.fillMask(text), await fromBytes.fillMask(text)];
  }, AUSTEN, TEXTS[0]);
  const native = runNative(['fill-mask', '--model', austenDir, '--top-k', '5', '--json', TEXTS[0]]);
  assertSamePredictions(results[0], native, 'from Files vs native');
  assertSamePredictions(results[1], native, 'from bytes vs native');
});

test('attention: one n x n map per layer and head, rows summing to 1', async () => {
  const r = await inPage(async (api, url) => {
    const bert = await api.Bert.load(url);
    const a = await bert.attention('the cat sat on the mat .');
    const sums = a.attention.flatMap((layer) =>
      layer.map((m) => {
        const n = a.tokens.length;
        return Array.from({ length: n }, (_, q) => m.slice(q * n, q * n + n).reduce((x, y) => x + y, 0));
      }),
    );
    return { tokens: a.tokens, layers: a.layers, heads: a.heads, count: a.attention.length, lengths: a.attention[0].map((m) => m.length), sums: sums.flat() };
  }, AUSTEN);
  assert.equal(r.tokens[0], '[CLS]');
  assert.equal(r.tokens.at(-1), '[SEP]');
  assert.equal(r.layers, 2);
  assert.equal(r.count, 2);
  assert.equal(r.heads, 2);
  assert.deepEqual(r.lengths, [r.tokens.length ** 2, r.tokens.length ** 2]);
  for (const s of r.sums) assert.ok(Math.abs(s - 1) < 1e-4, `row sum ${s}`);
});

test('save() returns a Hugging Face directory that loads again with the same predictions', async () => {
  const r = await inPage(async (api, url, text) => {
    const bert = await api.Bert.load(url);
    const files = await bert.save();
    const again = await api.Bert.load(files);
    const config = JSON.parse(new TextDecoder().decode(files['config.json']));
    return { names: Object.keys(files).sort(), architectures: config.architectures, a: await bert.fillMask(text), b: await again.fillMask(text) };
  }, AUSTEN, TEXTS[1]);
  assert.deepEqual(r.names, ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']);
  assert.deepEqual(r.architectures, ['BertForPreTraining']);
  assertSamePredictions(r.b, r.a, 'saved and reloaded vs original', { tol: 1e-6 });
});

test('a wrong URL or a 404 for one file is a rejected promise naming the file', async () => {
  const e = await rejection((api) => api.Bert.load('/fixtures/no-such-model/'));
  assert.equal(e.code, 'network');
  assert.ok(e.isBertError);
  assert.match(e.message, /config\.json: HTTP 404/);
  const e2 = await rejection((api) => api.Bert.load('http://127.0.0.1:9/nothing/'));
  assert.equal(e2.code, 'network');
  assert.match(e2.message, /could not fetch/);
  problems.length = 0; // the browser logs the failed requests themselves
});

test('a truncated weights file is a bad-file error naming model.safetensors', async () => {
  const e = await rejection(async (api, url) => {
    const files = await api.readModelFiles(url);
    files.weights = files.weights.subarray(0, files.weights.length >> 1);
    return api.Bert.load(files);
  }, AUSTEN);
  assert.equal(e.code, 'bad-file');
  assert.match(e.message, /model\.safetensors/);
});

test('weights that break the safetensors rules or hold a NaN are bad-file errors naming the tensor', async () => {
  const errors = await inPage(async (api, url) => {
    const files = await api.readModelFiles(url);
    const w = files.weights;
    const n = Number(new DataView(w.buffer, w.byteOffset, 8).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(w.subarray(8, 8 + n)));
    const data = w.subarray(8 + n);
    const encode = (h, d) => {
      const hb = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(8 + hb.length + d.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
      out.set(hb, 8);
      out.set(d, 8 + hb.length);
      return out;
    };
    const weight = 'bert.encoder.layer.0.output.dense.weight';
    const nan = data.slice();
    new DataView(nan.buffer).setFloat32(header[weight].data_offsets[0] + 12, NaN, true);
    const overlap = structuredClone(header);
    overlap['bert.encoder.layer.0.attention.self.value.bias'].data_offsets = header['bert.encoder.layer.0.attention.self.key.bias'].data_offsets;
    const trailing = new Uint8Array(data.length + 4);
    trailing.set(data);
    const out = [];
    for (const weights of [encode(header, nan), encode(overlap, data), encode(header, trailing)]) {
      out.push(await api.Bert.load({ ...files, weights }).then(() => 'resolved', (e) => ({ code: e.code, message: e.message, isBertError: e instanceof api.BertError })));
    }
    return out;
  }, AUSTEN);
  const named = [/bert\.encoder\.layer\.0\.output\.dense\.weight: value \d+ .*is NaN/, /attention\.self\.(key|value)\.bias/, /model\.safetensors/];
  errors.forEach((e, i) => {
    assert.equal(e.code, 'bad-file', JSON.stringify(e));
    assert.ok(e.isBertError);
    assert.match(e.message, named[i]);
  });
  assert.deepEqual(problems, []);
});

test('a text with no [MASK] and unknown options are input errors', async () => {
  const e = await rejection(async (api, url) => (await api.Bert.load(url)).fillMask('no mask here'), AUSTEN);
  assert.equal(e.code, 'input');
  assert.match(e.message, /\[MASK\]/);
  // A [MASK] cut off with a text longer than max_position_embeddings: said so, not "no [MASK]".
  const long = `${'the king said so . '.repeat(200)}[MASK] .`;
  const cut = await rejection(async (api, url, t) => (await api.Bert.load(url)).fillMask(t), AUSTEN, long);
  assert.equal(cut.code, 'input');
  assert.match(cut.message, /first \[MASK\] is token \d+ of a text cut to the model's max_position_embeddings/);
  assert.ok(cut.message.length < 300, cut.message);
  const e2 = await rejection(async (api, url) => (await api.Bert.load(url)).embed(['x'], { pooling: 'max' }), AUSTEN);
  assert.equal(e2.code, 'input');
  assert.match(e2.message, /pooling/);
});

test('a model larger than the adapter allows is a limits error', async () => {
  const e = await rejection(async (api, url) => {
    const files = await api.readModelFiles(url);
    const config = JSON.parse(new TextDecoder().decode(files.config));
    config.vocab_size = 2_000_000; // 2M x 128 x 4 bytes: 977 MiB for the word embeddings
    config.hidden_size = 256;
    files.config = JSON.stringify(config);
    return api.Bert.load(files);
  }, AUSTEN);
  assert.equal(e.code, 'limits');
  assert.match(e.message, /too large for this adapter: bert\.embeddings\.word_embeddings\.weight/);
});

test('no WebGPU, or no adapter: a no-webgpu error, no crash', async () => {
  const seen = [];
  const p = await session.browser.openBlank(seen);
  const r = await p.evaluate(async () => {
    const out = {};
    const gpu = navigator.gpu;
    gpu.requestAdapter = async () => null;
    const api = await import('/pkg/index.js');
    out.noAdapter = await api.Bert.load('/pretrained/austen-bert-tiny/').then(() => 'resolved', (e) => ({ code: e.code, message: e.message }));
    return out;
  });
  assert.equal(r.noAdapter.code, 'no-webgpu');
  assert.match(r.noAdapter.message, /no usable GPU adapter/);
  const p2 = await session.browser.openBlank(seen);
  const r2 = await p2.evaluate(async () => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });
    const api = await import('/pkg/index.js');
    return api.Bert.load('/pretrained/austen-bert-tiny/').then(() => 'resolved', (e) => ({ code: e.code, message: e.message }));
  });
  assert.equal(r2.code, 'no-webgpu');
  assert.match(r2.message, /WebGPU is not available/);
  assert.deepEqual(seen, []);
  await p.close();
  await p2.close();
});
