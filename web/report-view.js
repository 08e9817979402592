// The report of a pipeline run, as the core's `analyse` made it (report.json:
// web/src/pipeline.rs → autolabel::pipeline::analyse::RunReport): the verdict,
// the per-class P/R table with a score threshold per class, the failure modes
// with their example frames, the ranked failure queue, the cost table with
// this run's throughput, and the stages' timings, with plots of the P/R
// table, the recall bins and the confusion matrix (web/report-plots.js).
// Every number is the core's; this file only lays them out. Moving a threshold asks for a re-evaluation
// (`onThreshold`), a failure case's frame button shows that frame (`onFrame`).

import { clearPlots, drawPlots, plotsHtml } from './report-plots.js';

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const pct = (x) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
const num = (x, digits = 3) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
const usd = (x) => (x === null || x === undefined ? '–' : `$${Number(x).toFixed(4)}`);

/** `<table>` from a header row and body rows of cell HTML. */
function table(id, header, rows) {
  const head = `<thead><tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr></thead>`;
  const body = rows.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table id="${id}" class="report-table">${head}<tbody>${body}</tbody></table>`;
}

/** The P/R rows; each class row has its threshold input (`thresholds`: class → value shown). */
function prTable(eval_, thresholds) {
  const rows = eval_.bbox.per_class.map((c) => {
    const t = thresholds[c.class] ?? eval_.score_threshold;
    const input =
      `<input type="number" class="threshold" data-class="${escapeHtml(c.class)}" min="0" max="1" step="0.05" ` +
      `value="${t}" aria-label="score threshold of ${escapeHtml(c.class)}">`;
    return [escapeHtml(c.class), c.gt, c.predictions, c.tp, c.fp, c.fn, pct(c.precision), pct(c.recall), num(c.ap50), input];
  });
  const o = eval_.bbox.overall;
  rows.push(['<b>all</b>', o.gt, o.predictions, o.tp, o.fp, o.fn, pct(o.precision), pct(o.recall), num(eval_.bbox.coco.AP50), '']);
  return table('run-pr-table', ['class', 'GT', 'pred', 'TP', 'FP', 'FN', 'precision', 'recall', 'AP50', 'score ≥'], rows);
}

function failureModes(report) {
  const items = report.failure_modes.map((f) => {
    const title = escapeHtml(f.mode.replaceAll('_', ' '));
    if (!f.example) return `<li data-mode="${f.mode}"><b>${title}</b>: none found in this run</li>`;
    const e = f.example;
    return (
      `<li data-mode="${f.mode}"><b>${title}</b> — ${f.count} case(s); e.g. ` +
      `<button type="button" class="linklike goto" data-frame="${e.image_id}">frame ${e.image_id}</button>: ` +
      `${escapeHtml(e.reason)}</li>`
    );
  });
  return `<ul id="run-failure-modes" class="failure-modes">${items.join('')}</ul>`;
}

function failureQueue(eval_, max = 12) {
  const rows = eval_.failures.cases.slice(0, max).map((c) => [
    c.rank,
    escapeHtml(c.kind.replaceAll('_', ' ')),
    `<button type="button" class="linklike goto" data-frame="${c.image_id}">${c.image_id}</button>`,
    escapeHtml(c.gt_class ?? c.predicted_class ?? '–'),
    escapeHtml(c.reason),
  ]);
  return table('run-failure-queue', ['#', 'kind', 'frame', 'class', 'why'], rows);
}

function costTable(report) {
  const cost = report.eval.cost;
  const rows = cost.rows.map((r) => [
    escapeHtml(r.class),
    pct(r.recall),
    pct(r.precision),
    usd(r.manual_usd_per_label),
    usd(r.auto_usd_per_label),
    r.ratio === null ? '–' : `${num(r.ratio, 1)}×`,
  ]);
  const rate = report.frames_per_s;
  const device = report.stages[0]?.device ?? 'this browser';
  const line =
    rate === null
      ? '<p class="muted small">No throughput was measured.</p>'
      : `<p class="small" id="run-throughput">Inference cost at the throughput measured in this run: ` +
        `<b>${num(rate, 2)} labelled frames/s</b> on ${escapeHtml(device)}.</p>`;
  return line + table('run-cost-table', ['class', 'recall', 'precision', 'manual / label', 'auto / label', 'cheaper'], rows);
}

function stagesTable(report) {
  const rows = report.stages.map((s) => [
    escapeHtml(s.stage),
    s.items,
    num(s.seconds, 2),
    s.seconds > 0 ? num(s.items / s.seconds, 2) : '–',
    escapeHtml(s.device),
  ]);
  return table('run-stage-times', ['stage', 'frames', 'seconds', 'frames/s', 'device'], rows);
}

function summary(report) {
  const classes = Object.entries(report.detections_per_class)
    .map(([c, n]) => `${escapeHtml(c)} ${n}`)
    .join(' · ');
  return (
    `<p class="small">${escapeHtml(report.source)} — ${report.frames} frames taken, detection on ` +
    `${report.detection_frames}, ${report.tracks} track(s), ${report.boxes_with_points} box(es) prompted with ` +
    `occlusion points. Caption <code>${escapeHtml(report.caption)}</code>.</p>` +
    `<p class="small">Objects: ${classes || 'none'}</p>`
  );
}

/**
 * Renders `report` into `element`. `thresholds`: class → the score threshold
 * each class was evaluated at. `on`: {threshold(class, value), frame(index)}.
 */
export function renderReport(element, report, thresholds, on) {
  const parts = [summary(report)];
  if (report.eval) {
    parts.push(`<p id="run-verdict" class="verdict">${escapeHtml(report.eval.verdict.statement)}</p>`);
    parts.push('<h3>Precision and recall per class (IoU ' + report.eval.iou_threshold + ')</h3>');
    parts.push(prTable(report.eval, thresholds));
    parts.push('<h3>Plots</h3>', plotsHtml());
    parts.push('<h3>Failure modes</h3>', failureModes(report));
    parts.push('<h3>Failure queue (hardest first)</h3>', failureQueue(report.eval));
    parts.push('<h3>Cost</h3>', costTable(report));
  } else {
    parts.push('<p class="muted">This clip has no ground truth: no evaluation.</p>');
  }
  parts.push('<h3>Stages</h3>', stagesTable(report));
  clearPlots(element);
  element.innerHTML = parts.join('\n');
  if (report.eval) drawPlots(element, report.eval);
  for (const input of element.querySelectorAll('input.threshold')) {
    input.addEventListener('change', () => on.threshold(input.dataset.class, input.valueAsNumber));
  }
  for (const button of element.querySelectorAll('button.goto')) {
    button.addEventListener('click', () => on.frame(Number(button.dataset.frame)));
  }
}
