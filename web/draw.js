// Drawing a frame and its ground-truth boxes on the viewer canvas, and the
// evaluation's verdict on each object of a keyframe (TP/FP/FN).

export const CLASS_COLORS = {
  car: '#4f9dff',
  truck: '#ff9f43',
  bus: '#ffd23f',
  pedestrian: '#ff5d8f',
  cyclist: '#3ddc97',
  'traffic light': '#c084fc',
  'traffic sign': '#2dd4bf',
};
export const IGNORED_COLOR = '#a3acb8';
const FALLBACK_COLOR = '#e2e8f0';

export const colorOf = (ann) => (ann.class === null ? IGNORED_COLOR : (CLASS_COLORS[ann.class] ?? FALLBACK_COLOR));

/** Sizes the canvas to its box in device pixels and clears it. */
export function prepareCanvas(canvas, box) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(box.clientWidth * dpr));
  const height = Math.max(1, Math.round(box.clientHeight * dpr));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  return { ctx, dpr };
}

/**
 * Draws `bitmap` letterboxed on the canvas and `annotations` (boxes in image
 * pixels) over it; `highlight` is an annotation token drawn emphasised.
 * Returns the image → canvas mapping `{scale, ox, oy}`.
 */
export function drawFrame(canvas, box, bitmap, annotations, highlight) {
  const { ctx, dpr } = prepareCanvas(canvas, box);
  const { width: iw, height: ih } = bitmap;
  const scale = Math.min(canvas.width / iw, canvas.height / ih);
  const ox = (canvas.width - iw * scale) / 2;
  const oy = (canvas.height - ih * scale) / 2;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, ox, oy, iw * scale, ih * scale);

  // Far and ignored boxes first, so near, mapped ones sit on top.
  const anns = [...annotations].sort((a, b) => (b.class === null) - (a.class === null) || b.distance_m - a.distance_m);
  const rects = anns.map((ann) => {
    const [x0, y0, x1, y1] = ann.box;
    return { ann, x: ox + x0 * scale, y: oy + y0 * scale, w: (x1 - x0) * scale, h: (y1 - y0) * scale };
  });
  for (const rect of rects) strokeBox(ctx, rect, rect.ann.annotation_token === highlight, dpr);
  drawLabels(ctx, rects, highlight, dpr, { ox, oy, right: ox + iw * scale });
  return { scale, ox, oy };
}

function strokeBox(ctx, { ann, x, y, w, h }, hot, dpr) {
  const color = colorOf(ann);
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = (hot ? 3.5 : 2) * dpr;
  ctx.setLineDash(ann.class === null ? [6 * dpr, 4 * dpr] : []);
  if (hot) {
    ctx.fillStyle = `${color}33`;
    ctx.fillRect(x, y, w, h);
  }
  ctx.strokeRect(x, y, w, h);
  ctx.restore();
}

/**
 * Labels nearest-first (the highlighted one before all); one that would cover
 * an earlier label is left out — the table lists every box.
 */
function drawLabels(ctx, rects, highlight, dpr, { oy, ox, right }) {
  const font = Math.round(11.5 * dpr);
  ctx.font = `600 ${font}px ui-sans-serif, system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  const hot = (r) => r.ann.annotation_token === highlight;
  const order = [...rects].reverse().sort((a, b) => hot(b) - hot(a));
  const placed = [];
  for (const r of order) {
    const { ann, x, y } = r;
    const label = `${ann.class ?? ann.category}${ann.visibility ? ` · ${ann.visibility}` : ''}`;
    const tw = ctx.measureText(label).width + 8 * dpr;
    const th = font + 6 * dpr;
    const ly = y - th >= oy ? y - th : y;
    const lx = Math.min(Math.max(x, ox), right - tw);
    const box = { x: lx, y: ly, w: tw, h: th };
    const overlaps = placed.some(
      (p) => box.x < p.x + p.w && p.x < box.x + box.w && box.y < p.y + p.h && p.y < box.y + box.h,
    );
    if (overlaps && !hot(r)) continue;
    placed.push(box);
    ctx.fillStyle = ann.class === null ? 'rgba(60, 66, 76, 0.9)' : colorOf(ann);
    ctx.fillRect(lx, ly, tw, th);
    ctx.fillStyle = ann.class === null ? '#e5e9ef' : '#0b0f14';
    ctx.fillText(label, lx + 4 * dpr, ly + 3 * dpr);
  }
}

/** The evaluation's colours: found (TP), false positive (FP), missed (FN), not counted. */
export const MATCH_COLORS = { tp: '#3ddc97', fp: '#ff4d4f', fn: '#ffa940', ignored: '#a3acb8' };

const PREDICTION_KIND = { true_positive: 'tp', false_positive: 'fp', crowd: 'ignored', below_threshold: 'ignored' };

/**
 * Draws what the evaluation made of a frame's objects (`frame`: the core's
 * FrameMatches, boxes [x, y, w, h]) over the image mapped by `view`: true and
 * false positives, missed ground truth (dashed), predictions it did not count
 * (crowd, below the score threshold: dotted grey), and a tally of what was
 * drawn. Returns that tally {tp, fp, fn, ignored}.
 */
export function drawMatches(ctx, { scale, ox, oy }, frame) {
  const dpr = window.devicePixelRatio || 1;
  const boxes = [
    ...frame.ground_truth
      .filter((g) => !g.crowd && g.found_by === null)
      .map((g) => ({ kind: 'fn', bbox: g.bbox, text: `FN ${g.class}` })),
    ...frame.predictions.map((p) => {
      const kind = PREDICTION_KIND[p.outcome];
      return { kind, bbox: p.bbox, text: `${kind === 'ignored' ? '–' : kind.toUpperCase()} ${p.class} ${p.score.toFixed(2)}` };
    }),
  ];
  const tally = { tp: 0, fp: 0, fn: 0, ignored: 0 };
  const font = Math.round(11 * dpr);
  ctx.save();
  ctx.font = `600 ${font}px ui-sans-serif, system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const { kind, bbox, text } of boxes) {
    tally[kind] += 1;
    const [x, y, w, h] = [ox + bbox[0] * scale, oy + bbox[1] * scale, bbox[2] * scale, bbox[3] * scale];
    ctx.strokeStyle = MATCH_COLORS[kind];
    ctx.lineWidth = 2 * dpr;
    ctx.setLineDash({ fn: [6 * dpr, 4 * dpr], ignored: [2 * dpr, 3 * dpr] }[kind] ?? []);
    ctx.strokeRect(x, y, w, h);
    const tw = ctx.measureText(text).width + 6 * dpr;
    ctx.fillStyle = MATCH_COLORS[kind];
    ctx.fillRect(x, y + h, tw, font + 4 * dpr);
    ctx.fillStyle = '#0b0f14';
    ctx.fillText(text, x + 3 * dpr, y + h + 2 * dpr);
  }
  drawTally(ctx, tally, { ox, oy, font, dpr });
  ctx.restore();
  return tally;
}

/** "TP n · FP n · FN n" in the image's top-left corner, each in its colour. */
function drawTally(ctx, tally, { ox, oy, font, dpr }) {
  const parts = ['tp', 'fp', 'fn'].map((k) => [k, `${k.toUpperCase()} ${tally[k]}`]);
  let x = ox + 6 * dpr;
  const y = oy + 6 * dpr;
  ctx.setLineDash([]);
  for (const [kind, text] of parts) {
    const w = ctx.measureText(text).width + 10 * dpr;
    ctx.fillStyle = 'rgba(11, 15, 20, 0.8)';
    ctx.fillRect(x, y, w, font + 8 * dpr);
    ctx.fillStyle = MATCH_COLORS[kind];
    ctx.fillText(text, x + 5 * dpr, y + 4 * dpr);
    x += w + 4 * dpr;
  }
}
