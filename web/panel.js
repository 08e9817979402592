// The ground-truth panel: a summary of the frame's annotations, a legend of
// class counts and a table of boxes (hovering a row highlights its box).

import { CLASS_COLORS, IGNORED_COLOR, colorOf } from './draw.js';

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/**
 * Renders the panel for frame `index`. `view` is {clipKind, frames, hasGt,
 * keyframes, gt (this frame's, or null), annotations (the visible ones),
 * showIgnored}; `onHover(token | null)` follows the pointer over the rows.
 */
export function renderPanel(elements, view, index, onHover) {
  const { summary, tbody, legend } = elements;
  summary.textContent = view.gt ? gtSummary(view.gt, view.showIgnored) : noGtSummary(view, index);
  const counts = new Map();
  const rows = [...view.annotations].sort((a, b) => a.distance_m - b.distance_m);
  for (const ann of rows) counts.set(ann.class, (counts.get(ann.class) ?? 0) + 1);
  tbody.replaceChildren(...rows.map((ann) => annotationRow(ann, onHover)));
  legend.replaceChildren();
  if (!view.hasGt) return;
  for (const [name, color] of Object.entries(CLASS_COLORS)) {
    legend.append(legendItem(name, color, counts.get(name) ?? 0, false));
  }
  legend.append(legendItem('ignored', IGNORED_COLOR, counts.get(null) ?? 0, true));
}

function gtSummary(gt, showIgnored) {
  const ignored = gt.annotations.filter((a) => a.class === null).length;
  const n = gt.annotations.length;
  return (
    `${n} annotation${n === 1 ? '' : 's'} in view: ${n - ignored} in prompt classes, ${ignored} ignored` +
    `${showIgnored || !ignored ? '' : ' (hidden)'}.`
  );
}

function noGtSummary({ clipKind, frames, hasGt, keyframes }, i) {
  if (!hasGt) return `This ${clipKind === 'video' ? 'video' : 'clip'} has no ground truth.`;
  if (frames[i].is_key_frame) return 'Keyframe without ground truth.';
  const prev = [...keyframes].reverse().find((k) => k < i);
  const next = keyframes.find((k) => k > i);
  const near = [prev, next].filter((k) => k !== undefined).join(' and ');
  return `Sweep — nuScenes annotates keyframes only (2 Hz).${near ? ` Nearest keyframes: ${near}.` : ''}`;
}

function annotationRow(ann, onHover) {
  const tr = document.createElement('tr');
  tr.dataset.token = ann.annotation_token;
  if (ann.class === null) tr.className = 'ignored';
  const swatch = `<span class="swatch${ann.class === null ? ' dashed' : ''}" style="--c:${colorOf(ann)}"></span>`;
  tr.innerHTML =
    `<td>${swatch}<span class="cls">${escapeHtml(ann.class ?? 'ignored')}</span>` +
    `<span class="cat mono">${escapeHtml(ann.category)}</span></td>` +
    `<td class="mono small">${escapeHtml(ann.visibility ?? '–')}</td>` +
    `<td class="num">${ann.distance_m.toFixed(1)} m</td>` +
    `<td class="num">${ann.num_lidar_pts}</td>`;
  tr.addEventListener('pointerenter', () => onHover(ann.annotation_token));
  tr.addEventListener('pointerleave', () => onHover(null));
  return tr;
}

function legendItem(name, color, count, dashed) {
  const li = document.createElement('li');
  if (!count) li.className = 'zero';
  li.innerHTML = `<span class="swatch${dashed ? ' dashed' : ''}" style="--c:${color}"></span>${escapeHtml(name)}<b>${count}</b>`;
  return li;
}
