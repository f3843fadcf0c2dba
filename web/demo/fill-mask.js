// The fill-mask panel: one bar chart of predictions per [MASK].

import { $, barRow } from './ui.js';
import { call } from './worker-client.js';

function renderFillMask(perMask) {
  $('results').replaceChildren(
    ...perMask.map((predictions, m) => {
      const box = document.createElement('div');
      box.className = 'mask-result';
      const h = document.createElement('h4');
      h.textContent = perMask.length > 1 ? `[MASK] ${m + 1}` : '[MASK]';
      box.append(h, ...predictions.map((p) => barRow(p.token_str, p.score)));
      return box;
    }),
  );
}

export async function fillMask(text, topK = 5) {
  const perMask = await call('fillMask', { which: 'pretrained', text, topK });
  renderFillMask(perMask);
  return perMask;
}
