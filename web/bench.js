// Runs the package's bench() in the worker and prints the figures; `window.benchResult` resolves to them.
// First the matmul kernels are chosen for the preset's shapes (tuned once per adapter, then read from
// IndexedDB), as `bert-wgpu bench` does; with ?table=1 the page also prints every candidate's GFLOP/s on
// those shapes, the CLI's table.
//
// Query: preset, batch, seq, masked, reps; tune=0 keeps the default kernel; kernels=a,b limits the
// candidates; table=1 adds the table.

const params = new URLSearchParams(location.search);
const options = { preset: params.get('preset') ?? 'mini' };
for (const key of ['batch', 'seq', 'reps', 'masked']) if (params.has(key)) options[key] = Number(params.get(key));
const shapeOptions = { config: options.preset, batch: options.batch ?? 8, seq: options.seq ?? 128, masked: options.masked ?? 20 };
if (params.has('kernels')) shapeOptions.kernels = params.get('kernels').split(',');

const out = document.getElementById('out');
const print = (line) => {
  out.textContent += `${line}\n`;
  console.log(line);
};

async function run() {
  if (!navigator.gpu) throw new Error('This browser has no WebGPU (navigator.gpu is missing).');
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  await new Promise((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(`the worker failed to start: ${e.message}`));
    worker.onmessage = ({ data }) => data.ready && resolve();
  });
  let id = 0;
  const call = (op, args) =>
    new Promise((resolve, reject) => {
      const mine = ++id;
      worker.onmessage = ({ data }) => {
        if (data.id !== mine) return;
        if (data.error) reject(Object.assign(new Error(data.error.message), data.error));
        else resolve(data.result);
      };
      worker.postMessage({ id: mine, op, args });
    });
  out.textContent = '';
  let kernels = null;
  if (params.get('tune') !== '0') {
    const status = document.getElementById('status');
    status.textContent = 'Choosing the matmul kernels for this adapter (once; later visits read the choice)…';
    kernels = await call('prepareKernels', shapeOptions);
    const excluded = kernels.excluded.map((e) => `${e.kernel} (${e.why})`).join('; ');
    print(
      kernels.tuned > 0
        ? `matmul kernels: tuned ${kernels.tuned} shape classes on this adapter (kept in IndexedDB)${excluded ? `; excluded: ${excluded}` : ''}`
        : `matmul kernels: ${kernels.fromCache} choices read from IndexedDB`,
    );
    status.textContent = 'Measuring…';
  }
  let table = null;
  if (params.get('table') === '1') {
    table = await call('matmulRates', { ...shapeOptions, reps: options.reps ?? 2 });
    print(`matmul candidates on ${options.preset}'s training shapes, GFLOP/s; * marks auto's pick, ~ a rate from a cut-down copy:`);
    for (const line of table.table) print(line);
  }
  const r = await call('bench', options);
  r.kernels = kernels;
  r.matmulTable = table;
  const gpu = await navigator.gpu.requestAdapter();
  const i = gpu?.info ?? {};
  const browserName = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ');
  r.adapterName = r.adapter.name || browserName || '(unnamed)';
  for (const line of [
    `adapter: ${r.adapterName} (${r.adapter.backend}, ${r.adapter.deviceType}); default matmul kernel: ${r.adapter.matmulKernel}`,
    `${r.preset} (random weights), batch ${r.batch} x seq ${r.seq}, best of ${r.reps}:`,
    `  forward        ${r.forwardMs.toFixed(1).padStart(9)} ms  ${r.forwardTokensPerSecond.toFixed(1).padStart(9)} tokens/s`,
    `  training step  ${r.trainStepMs.toFixed(1).padStart(9)} ms  ${r.trainTokensPerSecond.toFixed(1).padStart(9)} tokens/s`,
  ])
    print(line);
  return r;
}

window.benchResult = run();
window.benchResult.then(
  () => {
    document.getElementById('status').textContent = 'Done.';
    document.getElementById('status').className = 'ready';
  },
  (e) => {
    document.getElementById('status').textContent = e.message;
    document.getElementById('status').className = 'error';
  },
);
