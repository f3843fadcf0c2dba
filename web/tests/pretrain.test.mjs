// Pretraining in the browser against `bert-wgpu pretrain`: ten steps from the same text, tokenizer,
// settings and seed give the same losses (the same batches, masks, initialisation and dropout) and the same
// held-out evaluation, within 1e-3 relative; then cancellation through an AbortSignal and the host-side
// snapshot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browserForTests, nativeBin, repoDir, webDir } from './harness.mjs';

const CORPUS = path.join(webDir, 'data', 'pride-and-prejudice-1-5.txt');
// Every 3rd of the text's five chapters is held out on both sides.
const SETTINGS = { steps: 10, batchSize: 4, seqLen: 64, lr: 1e-3, seed: 7, holdoutEvery: 3 };
// f32 on two devices that sum in different orders, through ten optimizer steps: about 1e-5 seen.
const REL_TOL = 1e-3;

const session = browserForTests('blank'); // the browser and page of this file's tests
const { problems } = session; // page errors and console errors

/** Per-step training losses and the final held-out evaluation of the native CLI on the same run. */
function nativeRun() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-wgpu-pretrain-'));
  try {
    const s = SETTINGS;
    execFileSync(
      nativeBin,
      [
        'pretrain', '--corpus', CORPUS, '--config', 'tiny',
        '--tokenizer', path.join(repoDir, 'pretrained', 'austen-bert-tiny'),
        '--out', path.join(out, 'run'), '--steps', String(s.steps), '--batch-size', String(s.batchSize),
        '--seq-len', String(s.seqLen), '--lr', String(s.lr), '--seed', String(s.seed),
        '--holdout-every', String(s.holdoutEvery), '--log-every', '1', '--eval-every', '1000', '--save-every', '1000',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 },
    );
    const lines = fs
      .readFileSync(path.join(out, 'run', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    return {
      losses: lines.filter((l) => l.split === 'train').map((l) => l.loss),
      heldOut: lines.filter((l) => l.split === 'eval'),
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

test('ten pretraining steps in the browser give the losses and held-out scores of ten native steps', async () => {
  const { losses: native, heldOut } = nativeRun();
  const r = await session.page.evaluate(async (settings) => {
    const { Trainer } = await import('/pkg/index.js');
    const text = await (await fetch('/data/pride-and-prejudice-1-5.txt')).text();
    const trainer = await Trainer.pretrain({ tokenizer: '/pretrained/austen-bert-tiny/', text, ...settings });
    const seen = [];
    const result = await trainer.train({ onProgress: (m) => seen.push(m.step) });
    return {
      losses: trainer.history.map((m) => m.loss),
      seen,
      result,
      info: await trainer.info(),
      snapshotStep: trainer.snapshot?.step,
      heldOut: await trainer.evaluate(),
    };
  }, SETTINGS);
  console.log(`  native:  ${native.map((l) => l.toFixed(5)).join(' ')}`);
  console.log(`  browser: ${r.losses.map((l) => l.toFixed(5)).join(' ')}`);
  assert.equal(native.length, 10);
  assert.equal(r.losses.length, 10);
  let worst = 0;
  r.losses.forEach((l, i) => {
    const rel = Math.abs(l - native[i]) / Math.abs(native[i]);
    worst = Math.max(worst, rel);
    assert.ok(rel <= REL_TOL, `step ${i + 1}: browser ${l} vs native ${native[i]} (relative ${rel})`);
  });
  console.log(`  largest relative difference ${worst.toExponential(2)}`);
  assert.deepEqual(r.seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(r.info.step, 10);
  assert.equal(r.snapshotStep, 10);
  // The native run evaluates once, at its last step; the browser when asked, after the same ten steps.
  assert.equal(heldOut.length, 1);
  assert.equal(r.info.heldOutDocuments, 1);
  assert.equal(r.heldOut.step, 10);
  assert.equal(r.heldOut.maskedTokens, heldOut[0].masked_tokens);
  for (const [browser, nativeKey] of [['loss', 'loss'], ['mlmLoss', 'mlm_loss'], ['nspLoss', 'nsp_loss']]) {
    const rel = Math.abs(r.heldOut[browser] - heldOut[0][nativeKey]) / Math.abs(heldOut[0][nativeKey]);
    assert.ok(rel <= REL_TOL, `held-out ${browser}: browser ${r.heldOut[browser]} vs native ${heldOut[0][nativeKey]}`);
  }
  assert.deepEqual(problems, []);
});

test('train() stops between steps on abort, keeps a snapshot, and can go on', async () => {
  const r = await session.page.evaluate(async () => {
    const { Trainer } = await import('/pkg/index.js');
    const text = await (await fetch('/data/pride-and-prejudice-1-5.txt')).text();
    const trainer = await Trainer.pretrain({ tokenizer: '/pretrained/austen-bert-tiny/', text, batchSize: 2, seqLen: 32, steps: 100 });
    const controller = new AbortController();
    const error = await trainer
      .train({ signal: controller.signal, onProgress: (m) => m.step === 3 && controller.abort() })
      .then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message }));
    const after = (await trainer.info()).step;
    const more = await trainer.step();
    const batch = await trainer.lastBatch();
    const busy = await Promise.all([trainer.step(), trainer.model.fillMask('the [MASK] .')]).then(() => 'both ran one after the other');
    return { error, after, more: more.step, snapshot: trainer.snapshot.step, files: Object.keys(trainer.snapshot.files).sort(), batch, busy };
  });
  assert.equal(r.error.name, 'AbortError');
  assert.equal(r.error.code, 'aborted');
  assert.match(r.error.message, /cancelled/);
  assert.equal(r.after, 3);
  assert.equal(r.snapshot, 3);
  assert.ok(r.files.includes('model.safetensors') && r.files.includes('config.json'));
  assert.equal(r.more, 4);
  assert.equal(r.busy, 'both ran one after the other');
  // The batch view: [CLS] A [SEP] B [SEP], segments 0 then 1, some chosen tokens with their originals.
  const t = r.batch.tokens;
  assert.equal(t[0].token, '[CLS]');
  assert.equal(t.at(-1).token, '[SEP]');
  assert.equal(t.filter((x) => x.token === '[SEP]').length, 2);
  assert.ok(t.some((x) => x.segment === 1));
  const chosen = t.filter((x) => x.kind);
  assert.ok(chosen.length > 0);
  for (const x of chosen) {
    assert.ok(['masked', 'random', 'kept'].includes(x.kind));
    if (x.kind === 'masked') assert.equal(x.token, '[MASK]');
    if (x.kind === 'kept') assert.equal(x.token, x.original);
  }
  assert.deepEqual(problems, []);
});

test('pretraining input errors: no text, too few sentences, unknown option', async () => {
  const r = await session.page.evaluate(async () => {
    const { Trainer } = await import('/pkg/index.js');
    const tk = '/pretrained/austen-bert-tiny/';
    const err = (p) => p.then(() => 'resolved', (e) => ({ code: e.code, message: e.message }));
    return {
      empty: await err(Trainer.pretrain({ tokenizer: tk, text: '  ' })),
      one: await err(Trainer.pretrain({ tokenizer: tk, text: 'just one sentence.' })),
      typo: await err(Trainer.pretrain({ tokenizer: tk, text: 'a b.\nc d.', bachSize: 2 })),
      // Options out of their domain, refused before anything is allocated (the CLI's rules).
      domain: await Promise.all(
        [{ lr: -1e-3 }, { lr: 0 }, { weightDecay: -0.1 }, { seqLen: 32, maxPredictions: 33 }].map((o) =>
          err(Trainer.pretrain({ tokenizer: tk, text: 'a b.\nc d.', ...o })),
        ),
      ),
    };
  });
  assert.equal(r.empty.code, 'input');
  assert.match(r.empty.message, /empty/);
  assert.equal(r.one.code, 'input');
  assert.match(r.one.message, /single sentence: an instance needs two/); // the CLI's message
  assert.equal(r.typo.code, 'input');
  assert.match(r.typo.message, /bachSize/);
  const named = [/^lr -0\.001/, /^lr 0/, /^weightDecay -0\.1/, /^maxPredictions 33: must be at most seqLen \(32\)/];
  r.domain.forEach((e, i) => {
    assert.equal(e.code, 'input', JSON.stringify(e));
    assert.match(e.message, named[i]);
  });
});
