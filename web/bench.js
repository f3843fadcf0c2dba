// Runs the package's bench() in the worker and prints the figures; `window.benchResult` resolves to them.

const params = new URLSearchParams(location.search);
const options = { preset: params.get('preset') ?? 'mini' };
for (const key of ['batch', 'seq', 'reps', 'masked']) if (params.has(key)) options[key] = Number(params.get(key));

async function run() {
  if (!navigator.gpu) throw new Error('This browser has no WebGPU (navigator.gpu is missing).');
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  await new Promise((resolve, reject) => {
    worker.onerror = (e) => reject(new Error(`the worker failed to start: ${e.message}`));
    worker.onmessage = ({ data }) => data.ready && resolve();
  });
  const r = await new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => (data.error ? reject(Object.assign(new Error(data.error.message), data.error)) : resolve(data.result));
    worker.postMessage({ id: 1, op: 'bench', args: options });
  });
  const gpu = await navigator.gpu.requestAdapter();
  const i = gpu?.info ?? {};
  const browserName = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ');
  r.adapterName = r.adapter.name || browserName || '(unnamed)';
  const lines = [
    `adapter: ${r.adapterName} (${r.adapter.backend}, ${r.adapter.deviceType}); matmul kernel: ${r.adapter.matmulKernel}`,
    `${r.preset} (random weights), batch ${r.batch} x seq ${r.seq}, best of ${r.reps}:`,
    `  forward        ${r.forwardMs.toFixed(1).padStart(9)} ms  ${r.forwardTokensPerSecond.toFixed(1).padStart(9)} tokens/s`,
    `  training step  ${r.trainStepMs.toFixed(1).padStart(9)} ms  ${r.trainTokensPerSecond.toFixed(1).padStart(9)} tokens/s`,
  ];
  document.getElementById('out').textContent = lines.join('\n');
  console.log(lines.join('\n'));
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
