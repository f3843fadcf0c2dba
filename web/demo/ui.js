// The demo page's shared pieces: element lookup, the status line, form handlers, score bars and the one
// plotting helper the training panels draw their curves with.

export const $ = (id) => document.getElementById(id);

export function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = kind;
}

/** Runs `fn` on the form's submit, with the time it took (or its error) in the status line. */
export function onSubmit(form, fn) {
  $(form).addEventListener('submit', async (event) => {
    event.preventDefault();
    const started = performance.now();
    setStatus('Running…');
    try {
      await fn();
      setStatus(`Done in ${(performance.now() - started).toFixed(0)} ms.`, 'ready');
    } catch (e) {
      setStatus(e.message ?? String(e), 'error');
    }
  });
}

/** One row of a bar chart: label, a bar of `score` (0..1) and the score. */
export function barRow(label, score) {
  const row = document.createElement('div');
  row.className = 'bar-row';
  const l = document.createElement('span');
  l.className = 'label';
  l.textContent = label;
  const track = document.createElement('div');
  const bar = document.createElement('div');
  bar.className = 'bar';
  bar.style.width = `${(score * 100).toFixed(2)}%`;
  track.append(bar);
  const s = document.createElement('span');
  s.className = 'score';
  s.textContent = score.toFixed(4);
  row.append(l, track, s);
  return row;
}

/**
 * Curves in an SVG of 400 x 200: `series` of `[step, value]` points as lines (optionally dashed), `dots` as
 * circles, steps 0..total on x and values 0..max on y, with an optional horizontal guide line.
 */
export function plotCurves(svg, { total, max, series, dots, guide }) {
  const x = (s) => 30 + (360 * s) / Math.max(1, total);
  const y = (v) => 180 - (170 * v) / max;
  const line = ({ points, color, dash }) =>
    `<polyline fill="none" stroke="${color}" stroke-width="1.5" ${dash ? `stroke-dasharray="${dash}" ` : ''}points="${points.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const circles = dots
    ? dots.points.map(([s, v]) => `<circle class="${dots.className}" cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3.5" fill="${dots.color}"/>`)
    : [];
  svg.innerHTML =
    `<line x1="30" y1="180" x2="390" y2="180" stroke="#999"/><line x1="30" y1="10" x2="30" y2="180" stroke="#999"/>` +
    (guide === undefined ? '' : `<line x1="30" y1="${y(guide).toFixed(1)}" x2="390" y2="${y(guide).toFixed(1)}" stroke="#eee"/>`) +
    `<text x="26" y="14" font-size="10" text-anchor="end">${max.toFixed(1)}</text>` +
    (guide === undefined ? '' : `<text x="26" y="${(y(guide) + 3).toFixed(1)}" font-size="10" text-anchor="end">${guide}</text>`) +
    `<text x="26" y="182" font-size="10" text-anchor="end">0</text>` +
    `<text x="390" y="195" font-size="10" text-anchor="end">step ${total}</text>` +
    series.map(line).join('') +
    circles.join('');
}
