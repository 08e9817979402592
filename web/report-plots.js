// The report's plots, drawn by Chart.js (web/vendor/README.md) from the
// numbers of report.json as the core computed them: precision and recall per
// class, recall by distance and by box size, and the class-confusion matrix.
// Nothing is computed here; each plot is a chart of one table of the report.

import './vendor/chart.umd.min.js';
import './vendor/chartjs-chart-matrix.min.js';

const { Chart } = globalThis;

const COLORS = { precision: '#4f9dff', recall: '#3ddc97', text: '#c9d1db', grid: 'rgba(201, 209, 219, 0.15)' };
const percent = (x) => (x === null || x === undefined ? null : 100 * x);

/** Options every plot shares: no animation (the numbers change only on a threshold), the page's colours. */
function baseOptions(title, yTitle) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    plugins: {
      title: { display: true, text: title, color: COLORS.text },
      legend: { labels: { color: COLORS.text } },
    },
    scales: {
      x: { ticks: { color: COLORS.text }, grid: { color: COLORS.grid } },
      y: {
        min: 0,
        max: 100,
        title: { display: true, text: yTitle, color: COLORS.text },
        ticks: { color: COLORS.text },
        grid: { color: COLORS.grid },
      },
    },
  };
}

function precisionRecall(eval_) {
  const rows = eval_.bbox.per_class;
  return {
    type: 'bar',
    data: {
      labels: rows.map((r) => r.class),
      datasets: ['precision', 'recall'].map((key) => ({
        label: key,
        data: rows.map((r) => percent(r[key])),
        backgroundColor: COLORS[key],
      })),
    },
    options: baseOptions(`Precision and recall per class (IoU ${eval_.iou_threshold})`, '%'),
  };
}

/** Recall per bin of one axis of `recall_bins` (`distance`, `size`), with each bin's ground-truth count. */
function recallBins(eval_, axis, title) {
  const bins = eval_.recall_bins.find((b) => b.axis === axis)?.bins ?? [];
  return {
    type: 'bar',
    data: {
      labels: bins.map((b) => `${b.bin} (${b.gt} GT)`),
      datasets: [{ label: 'recall', data: bins.map((b) => percent(b.recall)), backgroundColor: COLORS.recall }],
    },
    options: baseOptions(title, 'recall %'),
  };
}

/** Writes each cell's count in it. */
const cellCounts = {
  id: 'cellCounts',
  afterDatasetsDraw(chart) {
    const { ctx } = chart;
    const meta = chart.getDatasetMeta(0);
    ctx.save();
    ctx.font = '600 11px ui-sans-serif, system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    const most = Math.max(1, ...chart.data.datasets[0].data.map((c) => c.v));
    meta.data.forEach((cell, i) => {
      const { v } = chart.data.datasets[0].data[i];
      if (v === 0) return;
      const { x, y } = cell.getCenterPoint();
      ctx.fillStyle = v / most > 0.5 ? '#0b0f14' : COLORS.text;
      ctx.fillText(String(v), x, y);
    });
    ctx.restore();
  },
};

function confusionMatrix(confusion) {
  const { rows, columns, matrix } = confusion;
  const cells = rows.flatMap((row, r) => columns.map((column, c) => ({ x: column, y: row, v: matrix[r][c] })));
  const most = Math.max(1, ...cells.map((cell) => cell.v));
  return {
    type: 'matrix',
    data: {
      datasets: [
        {
          label: 'objects',
          data: cells,
          backgroundColor: (ctx) => `rgba(79, 157, 255, ${0.08 + (0.92 * (ctx.raw?.v ?? 0)) / most})`,
          borderColor: COLORS.grid,
          borderWidth: 1,
          width: ({ chart }) => (chart.chartArea?.width ?? 0) / columns.length - 2,
          height: ({ chart }) => (chart.chartArea?.height ?? 0) / rows.length - 2,
        },
      ],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: {
        title: { display: true, text: `Confusion (IoU ${confusion.iou_threshold}): ground truth ↓, predicted →`, color: COLORS.text },
        legend: { display: false },
        tooltip: {
          callbacks: { label: (item) => `${item.raw.y} → ${item.raw.x}: ${item.raw.v}` },
        },
      },
      scales: {
        x: { type: 'category', labels: columns, offset: true, position: 'top', ticks: { color: COLORS.text }, grid: { display: false } },
        // The plugin's default reverses y: the first class on top, as a confusion matrix reads.
        y: { type: 'category', labels: rows, offset: true, reverse: false, ticks: { color: COLORS.text }, grid: { display: false } },
      },
    },
    plugins: [cellCounts],
  };
}

/** The plots of `eval_` (report.json's `eval`), by the id of their canvas. */
export const PLOTS = {
  'plot-pr': (eval_) => precisionRecall(eval_),
  'plot-distance': (eval_) => recallBins(eval_, 'distance', 'Recall by distance from the camera'),
  'plot-size': (eval_) => recallBins(eval_, 'size', 'Recall by box size (COCO area)'),
  'plot-confusion': (eval_) => confusionMatrix(eval_.confusion),
};

/** The plots' HTML: one canvas per plot, in a grid. */
export const plotsHtml = () =>
  `<div id="run-plots" class="plots">${Object.keys(PLOTS)
    .map((id) => `<div class="plot"><canvas id="${id}" role="img" aria-label="${id.slice(5)} plot"></canvas></div>`)
    .join('')}</div>`;

/** Draws the plots of `eval_` into the canvases `plotsHtml` made under `element`. */
export function drawPlots(element, eval_) {
  for (const [id, make] of Object.entries(PLOTS)) {
    const canvas = element.querySelector(`#${id}`);
    Chart.getChart(canvas)?.destroy();
    new Chart(canvas, make(eval_));
  }
}

/** Frees the charts under `element` (before its HTML is replaced). */
export function clearPlots(element) {
  for (const canvas of element.querySelectorAll('.plot canvas')) Chart.getChart(canvas)?.destroy();
}
