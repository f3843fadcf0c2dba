// The npm package in web/pkg (scripts/build-web.sh): `npm pack` holds exactly the package's files, the
// metadata matches the crate, the gzipped module stays within 4 MiB, and the zip writer's archives read back.
// Node only (no browser).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { readJson, repoDir, unzipStored, webDir } from './harness.mjs';

const pkgDir = path.join(webDir, 'pkg');
const cargoToml = fs.readFileSync(path.join(repoDir, 'Cargo.toml'), 'utf8');
const cargoField = (name) => cargoToml.match(new RegExp(`^${name} = "([^"]+)"`, 'm'))[1];

test('package.json: name, version and licence of the crate, typed ES module', () => {
  assert.ok(fs.existsSync(path.join(pkgDir, 'package.json')), 'web/pkg is missing: run scripts/build-web.sh');
  const pkg = readJson(path.join(pkgDir, 'package.json'));
  assert.equal(pkg.name, 'bert-wgpu');
  assert.equal(pkg.version, cargoField('version'));
  assert.equal(pkg.license, cargoField('license'));
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.types, './index.d.ts');
  assert.equal(pkg.exports['.'].default, './index.js');
});

test('npm pack holds exactly the package files', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--silent'], { cwd: pkgDir, encoding: 'utf8' });
  const [{ files, name }] = JSON.parse(out);
  assert.equal(name, 'bert-wgpu');
  const got = files.map((f) => f.path).sort();
  const want = [
    'LICENSE-APACHE',
    'LICENSE-MIT',
    'README.md',
    'bert.js',
    'bert_wgpu.d.ts',
    'bert_wgpu.js',
    'bert_wgpu_bg.wasm',
    'bert_wgpu_bg.wasm.d.ts',
    'files.js',
    'hub-id.js',
    'hub.js',
    'index.d.ts',
    'index.js',
    'kernels.js',
    'package.json',
    'runtime.js',
    'trainer.js',
    'zip.js',
  ];
  assert.deepEqual(got, want);
  const mit = fs.readFileSync(path.join(pkgDir, 'LICENSE-MIT'), 'utf8');
  assert.match(mit, /^MIT License/);
});

test('the module is at most 4 MiB gzipped', () => {
  const wasm = fs.readFileSync(path.join(pkgDir, 'bert_wgpu_bg.wasm'));
  const gz = zlib.gzipSync(wasm, { level: 9 }).length;
  console.log(`  bert_wgpu_bg.wasm: ${wasm.length} bytes, gzipped ${gz} bytes (${(gz / 2 ** 20).toFixed(2)} MiB)`);
  assert.ok(gz <= 4 * 2 ** 20, `gzipped ${gz} bytes`);
});

test('the types name every export of index.js', async () => {
  const js = fs.readFileSync(path.join(pkgDir, 'index.js'), 'utf8');
  const dts = fs.readFileSync(path.join(pkgDir, 'index.d.ts'), 'utf8');
  const exported = [...js.matchAll(/^export (?:async )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  for (const [, names] of js.matchAll(/^export \{([^}]*)\}/gm)) exported.push(...names.split(',').map((n) => n.trim()));
  assert.ok(exported.length >= 7, `exports: ${exported}`);
  for (const name of exported) {
    assert.match(dts, new RegExp(`export (declare )?(function|class|const) ${name}\\b`), `index.d.ts declares ${name}`);
  }
});

test('zip() writes a store-only archive that reads back byte for byte', async () => {
  const { zip } = await import(path.join(pkgDir, 'zip.js'));
  const big = new Uint8Array(70_000).map((_, i) => (i * 7) & 255);
  const archive = zip({ 'config.json': '{"a": 1}', 'model.safetensors': big, 'vocab ü.txt': 'x\n' }, { folder: 'm' });
  const files = unzipStored(archive);
  assert.deepEqual(Object.keys(files), ['m/config.json', 'm/model.safetensors', 'm/vocab ü.txt']);
  assert.equal(new TextDecoder().decode(files['m/config.json']), '{"a": 1}');
  assert.deepEqual(files['m/model.safetensors'], big);
});
