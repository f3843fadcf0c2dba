// A tiny static server for the demo page and the browser tests, bound to 127.0.0.1 only.
//
//   /            -> web/            (index.html, main.js, pkg/)
//   /fixtures/   -> tests/fixtures/ (small model directories made by scripts/make_fixtures.py)
//   /models/     -> models/         (checkpoints fetched by scripts/fetch-minilm.sh, when present)
//
// `node tests/server.mjs [port]` serves until interrupted; tests import `startServer()` and get a free port.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(webDir, '..');

const mounts = [
  ['/fixtures/', path.join(repoDir, 'tests', 'fixtures')],
  ['/models/', path.join(repoDir, 'models')],
  ['/pretrained/', path.join(repoDir, 'pretrained')],
  ['/', webDir],
];

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.ts': 'text/plain; charset=utf-8',
};

/** Maps a URL path to a file under one of the mounts, or null when it would leave the mount. */
function resolve(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  for (const [prefix, dir] of mounts) {
    if (!decoded.startsWith(prefix)) continue;
    let file = path.join(dir, decoded.slice(prefix.length));
    if (file !== dir && !file.startsWith(dir + path.sep)) return null;
    if (decoded.endsWith('/')) file = path.join(file, 'index.html');
    return file;
  }
  return null;
}

function handle(req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const file = resolve(url.pathname);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end();
    return;
  }
  fs.stat(file ?? '', (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': types[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
}

/** Starts the server on 127.0.0.1 (port 0: any free port). Resolves to { url, close }. */
export function startServer(port = 0) {
  const server = http.createServer(handle);
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const { port } = server.address();
      ok({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(done)),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer(Number(process.argv[2] ?? 8080));
  console.log(`serving ${webDir} at ${url}/ (fixtures at ${url}/fixtures/, models at ${url}/models/)`);
}
