// The page: drives the compute worker (web/worker.js), shows frames on a canvas
// with their ground-truth boxes, and keeps the UI responsive while the wasm works.
//
// Test hook: `window.__autolabel` is the page state (status, frames, groundTruth,
// current, displayed, drawn, view, timings, renderCount, errors, classColors,
// cachedFrames()).
// `?scene=small` loads a 13-frame 640×360 variant (quick to iterate on);
// `?autostart=0` waits for the "Demo scene" button.

const CLASS_COLORS = {
  car: '#4f9dff',
  truck: '#ff9f43',
  bus: '#ffd23f',
  pedestrian: '#ff5d8f',
  cyclist: '#3ddc97',
  'traffic light': '#c084fc',
  'traffic sign': '#2dd4bf',
};
const IGNORED_COLOR = '#a3acb8';
const FALLBACK_COLOR = '#e2e8f0';
// Rendered frames kept (≈5.8 MB each at 1600×900): enough to scrub back and forth.
const CACHE_SIZE = 8;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const state = {
  status: 'idle', // idle | loading | ready | error
  name: null,
  width: 0,
  height: 0,
  frames: [],
  groundTruth: [],
  current: 0,
  displayed: null, // index of the frame whose pixels are on the canvas
  drawn: null, // {index, boxes, ignored}: the boxes over the displayed frame
  view: null, // {scale, ox, oy}: image → canvas pixels
  showIgnored: true,
  timings: { renders: {} },
  renderCount: 0,
  errors: [],
  classColors: CLASS_COLORS,
  cachedFrames: () => [...cache.map.keys()],
};
window.__autolabel = state;

const colorOf = (ann) => (ann.class === null ? IGNORED_COLOR : CLASS_COLORS[ann.class] ?? FALLBACK_COLOR);

// ---------------------------------------------------------------- frame cache

class Lru {
  constructor(capacity) {
    this.capacity = capacity;
    this.map = new Map();
  }
  has(key) {
    return this.map.has(key);
  }
  get(key) {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key, value) {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const [oldKey, oldValue] = this.map.entries().next().value;
      this.map.delete(oldKey);
      if (oldValue !== shownBitmap) oldValue.close();
    }
  }
}

const cache = new Lru(CACHE_SIZE);
let shownBitmap = null;

// ------------------------------------------------------------------- worker

let worker = null;
let inflight = null; // frame index being rendered
let direction = 1; // last scrub direction, for prefetching
let broken = false; // the wasm panicked: no more requests

async function startDemo() {
  if (worker || broken) return;
  setStatus('loading');
  $('demo').disabled = true;
  setBusy('loading wasm…');
  const wasm = new URL('./pkg/autolabel_web_bg.wasm', import.meta.url);
  const head = await fetch(wasm, { method: 'HEAD' }).catch(() => null);
  if (!head || !head.ok) {
    fail(`${wasm.pathname} is missing (HTTP ${head ? head.status : 'error'}). Build the wasm first: web/build.sh`);
    return;
  }
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = ({ data }) => onWorkerMessage(data);
  worker.onerror = (e) => {
    e.preventDefault();
    fail(`worker error: ${e.message || 'the worker failed to load (see the console)'}`);
  };
  worker.onmessageerror = () => fail('worker sent a message that could not be deserialised');
  worker.postMessage({ type: 'load', small: params.get('scene') === 'small' });
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case 'progress':
      setBusy(msg.text);
      break;
    case 'scene':
      onScene(msg);
      break;
    case 'frame':
      onFrame(msg);
      break;
    case 'panic':
      broken = true;
      fail(`wasm panicked: ${msg.message}`);
      break;
    case 'error':
      if (msg.during === 'render') inflight = null;
      fail(`${msg.during === 'render' ? `rendering frame ${msg.index}` : msg.during}: ${msg.message}`);
      break;
    default:
      fail(`unknown worker message '${msg.type}'`);
  }
}

function request(index) {
  inflight = index;
  worker.postMessage({ type: 'render', index });
}

/** Renders the wanted frame if it is missing, else prefetches its neighbour. */
function pump() {
  if (inflight !== null || broken || state.status !== 'ready') return;
  if (!cache.has(state.current)) {
    request(state.current);
    return;
  }
  const next = state.current + direction;
  if (next >= 0 && next < state.frames.length && !cache.has(next)) request(next);
}

// -------------------------------------------------------------------- scene

let gtByImage = new Map();
let keyframes = [];

function onScene(msg) {
  state.name = msg.name;
  state.width = msg.width;
  state.height = msg.height;
  state.frames = msg.frames;
  state.groundTruth = msg.groundTruth;
  Object.assign(state.timings, msg.timings);
  gtByImage = new Map(msg.groundTruth.map((gt) => [gt.image, gt]));
  keyframes = msg.frames.flatMap((f, i) => (f.is_key_frame ? [i] : []));

  $('stage').style.setProperty('--ar', `${msg.width} / ${msg.height}`);
  $('placeholder').hidden = true;
  const slider = $('slider');
  slider.max = String(msg.frames.length - 1);
  for (const id of ['slider', 'prev', 'next', 'prev-key', 'next-key']) $(id).disabled = false;
  $('scrubber').setAttribute('aria-disabled', 'false');
  $('frame-count').textContent = String(msg.frames.length);
  buildTicks();
  setStatus('ready');
  $('demo').textContent = 'Demo scene ✓';
  updateTimings();
  show(0);
}

function onFrame({ index, bitmap, ms }) {
  inflight = null;
  cache.set(index, bitmap);
  state.timings.renders[index] = ms;
  state.renderCount += 1;
  updateTimings();
  if (index === state.current) display(index);
  pump();
}

const gtOf = (index) => {
  const frame = state.frames[index];
  return frame && frame.is_key_frame ? gtByImage.get(frame.image) ?? null : null;
};

function visibleAnnotations(index) {
  const gt = gtOf(index);
  if (!gt) return [];
  return gt.annotations.filter((a) => state.showIgnored || a.class !== null);
}

// --------------------------------------------------------------- navigation

function show(index) {
  if (state.status !== 'ready') return;
  index = Math.max(0, Math.min(state.frames.length - 1, index));
  if (index !== state.current) direction = index > state.current ? 1 : -1;
  state.current = index;
  $('slider').value = String(index);
  updateFrameInfo();
  updatePanel();
  if (cache.has(index)) display(index);
  else setBusy(`rendering frame ${index}…`);
  pump();
}

function step(delta) {
  show(state.current + delta);
}

function stepKeyframe(dir) {
  const target =
    dir > 0 ? keyframes.find((k) => k > state.current) : [...keyframes].reverse().find((k) => k < state.current);
  if (target !== undefined) show(target);
}

function display(index) {
  shownBitmap = cache.get(index);
  state.displayed = index;
  setBusy(null);
  draw();
}

// ------------------------------------------------------------------ drawing

const canvas = $('view');
const ctx = canvas.getContext('2d');
let highlight = null; // annotation_token under the pointer in the table

function draw() {
  const stage = $('stage');
  const dpr = window.devicePixelRatio || 1;
  const cw = Math.max(1, Math.round(stage.clientWidth * dpr));
  const ch = Math.max(1, Math.round(stage.clientHeight * dpr));
  if (canvas.width !== cw || canvas.height !== ch) {
    canvas.width = cw;
    canvas.height = ch;
  }
  ctx.clearRect(0, 0, cw, ch);
  if (!shownBitmap || state.displayed === null) return;

  const scale = Math.min(cw / state.width, ch / state.height);
  const ox = (cw - state.width * scale) / 2;
  const oy = (ch - state.height * scale) / 2;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(shownBitmap, ox, oy, state.width * scale, state.height * scale);

  // Far and ignored boxes first, so near, mapped ones sit on top.
  const anns = visibleAnnotations(state.displayed).sort(
    (a, b) => (b.class === null) - (a.class === null) || b.distance_m - a.distance_m,
  );
  const font = Math.round(11.5 * dpr);
  ctx.font = `600 ${font}px ui-sans-serif, system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  const rects = anns.map((ann) => {
    const [x0, y0, x1, y1] = ann.box;
    return { ann, x: ox + x0 * scale, y: oy + y0 * scale, w: (x1 - x0) * scale, h: (y1 - y0) * scale };
  });
  for (const { ann, x, y, w, h } of rects) {
    const color = colorOf(ann);
    const hot = ann.annotation_token === highlight;
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
  // Labels nearest-first (the highlighted one before all); one that would
  // cover an earlier label is left out — the table lists every box.
  const placed = [];
  const order = [...rects].reverse().sort((a, b) => (b.ann.annotation_token === highlight) - (a.ann.annotation_token === highlight));
  for (const { ann, x, y } of order) {
    const label = `${ann.class ?? ann.category}${ann.visibility ? ` · ${ann.visibility}` : ''}`;
    const tw = ctx.measureText(label).width + 8 * dpr;
    const th = font + 6 * dpr;
    const ly = y - th >= oy ? y - th : y;
    const lx = Math.min(Math.max(x, ox), ox + state.width * scale - tw);
    const box = { x: lx, y: ly, w: tw, h: th };
    const overlaps = placed.some((p) => box.x < p.x + p.w && p.x < box.x + box.w && box.y < p.y + p.h && p.y < box.y + box.h);
    if (overlaps && ann.annotation_token !== highlight) continue;
    placed.push(box);
    ctx.fillStyle = ann.class === null ? 'rgba(60, 66, 76, 0.9)' : colorOf(ann);
    ctx.fillRect(lx, ly, tw, th);
    ctx.fillStyle = ann.class === null ? '#e5e9ef' : '#0b0f14';
    ctx.fillText(label, lx + 4 * dpr, ly + 3 * dpr);
  }
  state.view = { scale, ox, oy };
  state.drawn = {
    index: state.displayed,
    boxes: anns.length,
    ignored: anns.filter((a) => a.class === null).length,
  };
  canvas.dataset.frame = String(state.displayed);
  canvas.dataset.boxes = String(anns.length);
}

// ----------------------------------------------------------------- UI parts

function setStatus(status) {
  state.status = status;
  document.body.dataset.state = status;
  const text = { idle: 'idle', loading: 'loading…', ready: `ready · ${state.name}`, error: 'error' }[status];
  $('status').textContent = text;
}

function setBusy(text) {
  $('busy').hidden = !text;
  $('busy-text').textContent = text ?? '';
  if (text) $('status').textContent = text;
  else if (state.status === 'ready') $('status').textContent = `ready · ${state.name}`;
}

function fail(message) {
  console.error(message);
  state.errors.push(message);
  setStatus('error');
  setBusy(null);
  $('error').hidden = false;
  $('error-text').textContent = state.errors.join('\n');
}

const fmtSeconds = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;

function updateTimings() {
  const t = state.timings;
  const parts = [];
  if (t.wasmInitMs !== undefined) parts.push(`wasm init ${fmtSeconds(t.wasmInitMs)}`);
  if (t.generateMs !== undefined) parts.push(`scene generated in ${fmtSeconds(t.generateMs)}`);
  const renders = Object.values(t.renders);
  if (renders.length) {
    const last = renders[renders.length - 1];
    parts.push(`last frame rendered in ${fmtSeconds(last)}`);
  }
  $('timings').textContent = parts.join(' · ');
}

function buildTicks() {
  const ticks = $('ticks');
  ticks.replaceChildren();
  const n = state.frames.length;
  for (const k of keyframes) {
    const tick = document.createElement('span');
    tick.style.setProperty('--f', n > 1 ? String(k / (n - 1)) : '0');
    ticks.append(tick);
  }
}

function updateFrameInfo() {
  const i = state.current;
  const frame = state.frames[i];
  const t0 = state.frames[0].timestamp;
  $('frame-index').textContent = String(i);
  const time = $('frame-time');
  time.textContent = `${((frame.timestamp - t0) / 1e6).toFixed(3)} s`;
  time.title = `${frame.timestamp} µs`;
  const kind = $('frame-kind');
  kind.textContent = frame.is_key_frame ? 'keyframe' : 'sweep';
  kind.className = `badge ${frame.is_key_frame ? 'key' : 'sweep'}`;
  const image = $('frame-image');
  image.textContent = frame.image;
  image.title = frame.image;
}

function updatePanel() {
  const i = state.current;
  const gt = gtOf(i);
  const tbody = $('ann-table').querySelector('tbody');
  tbody.replaceChildren();
  const counts = new Map();
  if (!gt) {
    const prev = [...keyframes].reverse().find((k) => k < i);
    const next = keyframes.find((k) => k > i);
    const near = [prev, next].filter((k) => k !== undefined).join(' and ');
    $('gt-summary').textContent = state.frames[i].is_key_frame
      ? 'Keyframe without ground truth.'
      : `Sweep — nuScenes annotates keyframes only (2 Hz).${near ? ` Nearest keyframes: ${near}.` : ''}`;
  } else {
    const ignored = gt.annotations.filter((a) => a.class === null).length;
    $('gt-summary').textContent =
      `${gt.annotations.length} annotation${gt.annotations.length === 1 ? '' : 's'} in view: ` +
      `${gt.annotations.length - ignored} in prompt classes, ${ignored} ignored` +
      `${state.showIgnored || !ignored ? '' : ' (hidden)'}.`;
    const rows = [...visibleAnnotations(i)].sort((a, b) => a.distance_m - b.distance_m);
    for (const ann of rows) {
      const key = ann.class ?? null;
      counts.set(key, (counts.get(key) ?? 0) + 1);
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
      tr.addEventListener('pointerenter', () => setHighlight(ann.annotation_token));
      tr.addEventListener('pointerleave', () => setHighlight(null));
      tbody.append(tr);
    }
  }
  const legend = $('legend');
  legend.replaceChildren();
  for (const [name, color] of Object.entries(CLASS_COLORS)) {
    legend.append(legendItem(name, color, counts.get(name) ?? 0, false));
  }
  legend.append(legendItem('ignored', IGNORED_COLOR, counts.get(null) ?? 0, true));
}

function legendItem(name, color, count, dashed) {
  const li = document.createElement('li');
  if (!count) li.className = 'zero';
  li.innerHTML = `<span class="swatch${dashed ? ' dashed' : ''}" style="--c:${color}"></span>${escapeHtml(name)}<b>${count}</b>`;
  return li;
}

function setHighlight(token) {
  highlight = token;
  draw();
}

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// ------------------------------------------------------------------- wiring

$('demo').addEventListener('click', startDemo);
$('slider').addEventListener('input', (e) => show(Number(e.target.value)));
$('prev').addEventListener('click', () => step(-1));
$('next').addEventListener('click', () => step(1));
$('prev-key').addEventListener('click', () => stepKeyframe(-1));
$('next-key').addEventListener('click', () => stepKeyframe(1));
$('show-ignored').addEventListener('change', (e) => {
  state.showIgnored = e.target.checked;
  if (state.status !== 'ready') return;
  updatePanel();
  draw();
});
document.addEventListener('keydown', (e) => {
  if (state.status !== 'ready' || e.altKey || e.ctrlKey || e.metaKey) return;
  const actions = {
    ArrowLeft: () => (e.shiftKey ? stepKeyframe(-1) : step(-1)),
    ArrowRight: () => (e.shiftKey ? stepKeyframe(1) : step(1)),
    Home: () => show(0),
    End: () => show(state.frames.length - 1),
  };
  const action = actions[e.key];
  if (!action) return;
  e.preventDefault();
  action();
});
new ResizeObserver(() => draw()).observe($('stage'));
window.addEventListener('error', (e) => fail(`page error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => fail(`page error: ${e.reason}`));

if (params.get('autostart') !== '0') startDemo();
