// One usage chart: a uPlot line over the buckets (UTC), redrawn when its data changes.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './ui.js';

const WIDTH = 460;
// Counts are whole numbers: ticks step by 1, 2, 5, 10, … (never 0.5).
const WHOLE_STEPS = [1, 2, 5].flatMap((n) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6].map((m) => n * m)).sort((a, b) => a - b);
const HEIGHT = 170;

/** `xs`: bucket starts in seconds; `ys`: one value per bucket (null: nothing to show). */
export function UsageChart({ id, title, xs, ys, percent = false }) {
  const box = useRef(null);
  useEffect(() => {
    const plot = new uPlot(
      {
        width: Math.min(WIDTH, box.current.clientWidth || WIDTH),
        height: HEIGHT,
        legend: { show: false },
        // Buckets are UTC hours and days, as every time on the page is.
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: percent ? { range: [0, 100] } : { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [{}, percent ? { size: 58, values: (_u, ticks) => ticks.map((v) => `${v} %`) } : { size: 46, incrs: WHOLE_STEPS }],
        series: [{}, { label: title, stroke: '#2563eb', fill: 'rgba(37, 99, 235, 0.12)', width: 2, spanGaps: percent, points: { size: 5 } }],
      },
      [xs, ys],
      box.current,
    );
    return () => plot.destroy();
  }, [xs, ys]);
  return html`
    <figure class="chart" id=${id}>
      <figcaption>${title}</figcaption>
      <div ref=${box} role="img" aria-label=${`${title} chart`}></div>
    </figure>
  `;
}
