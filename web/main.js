// Demo page: loads a Hugging Face model directory over HTTP and runs fill-mask in WebGPU.
//
//   index.html?model=fixtures/tiny-bert/     (relative to the page, or an absolute URL)
//
// Tests drive it through `window.bertDemo`: { ready: Promise<AdapterInfo>, fillMask(text, topK),
// embed(texts, { pooling, normalize }) }.
// `document.body.dataset.state` is "loading", then "ready" or "error".

const $ = (id) => document.getElementById(id);

function setStatus(text, kind = '') {
  const status = $('status');
  status.textContent = text;
  status.className = kind;
}

/** The model directory's URL, always ending in '/'. */
function modelBase() {
  const param = new URLSearchParams(location.search).get('model') || 'fixtures/tiny-bert/';
  const url = new URL(param, location.href);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** One file of the model directory as bytes; `undefined` for an optional file that is not there. */
async function fetchFile(base, name, { optional = false } = {}) {
  const url = new URL(name, base);
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`${name}: could not fetch ${url}: ${e.message}`);
  }
  if (response.status === 404 && optional) return undefined;
  if (!response.ok) {
    throw new Error(`${name}: HTTP ${response.status} ${response.statusText} from ${url}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function fetchModel(base) {
  setStatus(`Fetching config.json and model.safetensors from ${base}…`);
  const [config, weights, tokenizerConfig, specialTokensMap] = await Promise.all([
    fetchFile(base, 'config.json'),
    fetchFile(base, 'model.safetensors'),
    fetchFile(base, 'tokenizer_config.json', { optional: true }),
    fetchFile(base, 'special_tokens_map.json', { optional: true }),
  ]);
  const tokenizerJson = await fetchFile(base, 'tokenizer.json', { optional: true });
  const vocabTxt = tokenizerJson ? undefined : await fetchFile(base, 'vocab.txt', { optional: true });
  if (!tokenizerJson && !vocabTxt) {
    throw new Error(`tokenizer.json and vocab.txt: neither found (HTTP 404) under ${base}`);
  }
  return { config, weights, tokenizerJson, vocabTxt, tokenizerConfig, specialTokensMap };
}

/** What the browser says about its adapter (wgpu's AdapterInfo has no name on WebGPU). */
async function browserAdapterName() {
  try {
    const adapter = await navigator.gpu.requestAdapter();
    const i = adapter?.info;
    if (!i) return '';
    const name = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ');
    return (i.isFallbackAdapter ? `${name}, software fallback` : name).trim();
  } catch {
    return '';
  }
}

function describeAdapter(info, browserName) {
  const name = info.name || browserName || '(unnamed adapter)';
  const subgroups = info.subgroupMinSize === info.subgroupMaxSize
    ? `${info.subgroupMinSize}`
    : `${info.subgroupMinSize}-${info.subgroupMaxSize}`;
  return `Adapter: ${name} (${info.backend}, ${info.deviceType}); subgroup size ${subgroups}, ` +
    `subgroup matmul: ${info.subgroupMatmul ? 'yes' : 'no'}; ` +
    `max storage binding ${(info.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`;
}

/** One table per [MASK]: rank, token, id, score, sequence. */
function renderResults(output) {
  const perMask = Array.isArray(output[0]) ? output : [output];
  const results = $('results');
  results.replaceChildren();
  perMask.forEach((predictions, m) => {
    const table = document.createElement('table');
    table.className = 'predictions';
    table.createCaption().textContent = perMask.length > 1 ? `[MASK] ${m + 1}` : '[MASK]';
    const head = table.createTHead().insertRow();
    for (const h of ['#', 'token', 'id', 'score', 'sequence']) {
      const th = document.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    const body = table.createTBody();
    predictions.forEach((p, i) => {
      const row = body.insertRow();
      const cells = [i + 1, p.token_str, p.token, p.score.toFixed(4), p.sequence];
      cells.forEach((value, c) => {
        const td = row.insertCell();
        td.textContent = String(value);
        if (c === 0 || c === 2 || c === 3) td.className = 'num';
      });
    });
    results.append(table);
  });
}

async function main() {
  document.body.dataset.state = 'loading';
  const base = modelBase();
  $('model').textContent = base.href;

  if (!('gpu' in navigator) || !navigator.gpu) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge, or a browser with ' +
        'WebGPU enabled (Chromium on Linux: --enable-unsafe-webgpu); the page must come from https or localhost.',
    );
  }

  let wasm;
  try {
    wasm = await import('./pkg/bert_wgpu.js');
  } catch (e) {
    throw new Error(`Could not load ./pkg/bert_wgpu.js (${e.message}); build it with scripts/build-web.sh`);
  }
  await wasm.default();

  const files = await fetchModel(base);
  setStatus('Loading the model onto the GPU…');
  const bert = await wasm.Bert.load(files);
  const info = bert.adapterInfo();
  $('adapter').textContent = describeAdapter(info, await browserAdapterName());

  const fillMask = async (text, topK = 5) => {
    const output = await bert.fillMask(text, topK);
    renderResults(output);
    return output;
  };

  const form = $('form');
  for (const el of form.elements) el.disabled = false;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const started = performance.now();
    setStatus('Running…');
    try {
      await fillMask($('text').value, Number($('topk').value) || 5);
      setStatus(`Done in ${(performance.now() - started).toFixed(0)} ms.`, 'ready');
    } catch (e) {
      setStatus(e.message ?? String(e), 'error');
    }
  });

  setStatus('Ready. Type a text with [MASK] and press Fill mask.', 'ready');
  document.body.dataset.state = 'ready';
  const embed = async (texts, options) => bert.embed(texts, options);
  return { info, fillMask, embed, bert };
}

const ready = main();
window.bertDemo = {
  ready: ready.then(({ info }) => info),
  fillMask: async (text, topK) => (await ready).fillMask(text, topK),
  embed: async (texts, options) => (await ready).embed(texts, options),
};
ready.catch((e) => {
  setStatus(e.message ?? String(e), 'error');
  document.body.dataset.state = 'error';
});
window.bertDemo.ready.catch(() => {}); // reported on the page above, not as an unhandled rejection
