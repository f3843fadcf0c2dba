// The attention panel: a heatmap of one layer's and head's attention probabilities.

import { $ } from './ui.js';
import { call } from './worker-client.js';

let maps = null;

export function drawHeatmap() {
  const canvas = $('heatmap');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!maps) return;
  const layer = Number($('layer').value);
  const head = Number($('head').value);
  const m = maps.attention[layer][head];
  const n = maps.tokens.length;
  const margin = 110;
  const cell = Math.max(4, Math.floor((canvas.width - margin - 10) / n));
  ctx.font = `${Math.min(13, cell)}px ui-monospace, monospace`;
  ctx.fillStyle = '#222';
  ctx.textBaseline = 'middle';
  maps.tokens.forEach((t, i) => {
    const label = maps.segments[i] ? `${t} ·B` : t;
    ctx.textAlign = 'right';
    ctx.fillText(label, margin - 6, margin + i * cell + cell / 2);
    ctx.save();
    ctx.translate(margin + i * cell + cell / 2, margin - 6);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'left';
    ctx.fillText(t, 0, 0);
    ctx.restore();
  });
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      const v = m[q * n + k];
      const shade = Math.round(255 * (1 - Math.sqrt(v)));
      ctx.fillStyle = `rgb(${shade},${shade},255)`;
      ctx.fillRect(margin + k * cell, margin + q * cell, cell - 1, cell - 1);
    }
  }
}

export async function attention(text) {
  maps = await call('attention', { which: 'pretrained', text });
  for (const [id, count] of [['layer', maps.layers], ['head', maps.heads]]) {
    const select = $(id);
    const keep = Math.min(Number(select.value) || 0, count - 1);
    select.replaceChildren(...Array.from({ length: count }, (_, i) => new Option(String(i + 1), String(i))));
    select.value = String(keep);
  }
  drawHeatmap();
  return { tokens: maps.tokens, layers: maps.layers, heads: maps.heads };
}
