// The page: opens clips (video file, frame folder, nuScenes folder, demo
// scene), shows their frames with ground-truth boxes, and reports the compute
// backend. Slow work runs in workers (web/worker.js) or the browser's media
// pipeline; long steps show progress and can be cancelled. A failed open
// leaves the clip on screen untouched.
//
// Test hook: `window.__autolabel` is the page state (status, clip, frames,
// groundTruth, current, displayed, drawn, view, timings, renderCount, errors,
// warnings, task, capabilities, backend, classColors, cachedFrames(), sam2, gd, pipeline, batch).
// `?sam2=NAME` / `?gd=NAME` preselect a checkpoint in the SAM 2 / Grounding DINO panel,
// `?runDetector=NAME` / `?runSegmenter=NAME` / `?runTracker=NAME` in the Run panel (the Batch panel uses its
// detector and segmenter).
// `?demo=1` opens the demo scene on load, `?demo=small` a 13-frame 640×360 variant.
// The performance mark `autolabel-interactive` is set once every control is wired.

import { defaultBackend, describeBackend, detectCapabilities, renderCapabilities } from './backend.js';
import { FrameCache } from './cache.js';
import {
  isImageName,
  notNuScenesMessage,
  nuScenesVersions,
  NuScenesFolder,
  openDemo,
  openFrameFolder,
} from './clips.js';
import { CLASS_COLORS, drawFrame, drawMatches, prepareCanvas } from './draw.js';
import { CancelledError, InputError } from './errors.js';
import { readDrop, treeOfFiles, treeOfPickedFolder } from './files.js';
import { Notices } from './notices.js';
import { registerOffline } from './offline.js';
import { renderPanel } from './panel.js';
import { SceneDialog } from './scene-dialog.js';
import { BatchPanel } from './batch-panel.js';
import { Detector } from './detect.js';
import { RunFrames } from './run-frames.js';
import { ReviewPanel } from './review-panel.js';
import { RunPanel } from './run-panel.js';
import { Segmenter } from './segment.js';
import { FrameStrip } from './strip.js';
import { isVideoFile, openVideo } from './video.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const BACKEND_KEY = 'autolabel.backend';

const cache = new FrameCache();

const state = {
  status: 'idle', // idle | loading | ready
  clip: null, // {kind, name, title, width, height} of the clip on screen
  frames: [],
  groundTruth: [],
  current: 0,
  displayed: null, // index of the frame whose pixels are on the canvas
  drawn: null, // {index, boxes, ignored, labels, matches: {tp, fp, fn, ignored} | null}: what is over the displayed frame
  view: null, // {scale, ox, oy}: image → canvas pixels
  showIgnored: true,
  showLabels: true, // the run's labels over the frame
  showGt: true,
  showMatches: false, // the evaluation's TP/FP/FN on keyframes with ground truth
  timings: { renders: {} },
  renderCount: 0,
  errors: [],
  warnings: [],
  task: null, // text of the long step running, if any
  capabilities: null,
  backend: null,
  classColors: CLASS_COLORS,
  cachedFrames: () => cache.indices(),
  offline: { status: null, reason: null }, // the service worker (web/offline.js)
};
window.__autolabel = state;

const segmenter = new Segmenter({
  state,
  notify: (kind, message) => notify(kind, message),
  redraw: () => draw(),
  bitmap: () => cache.pinned,
  toImage: (cx, cy) => [(cx - state.view.ox) / state.view.scale, (cy - state.view.oy) / state.view.scale],
});

const runPanel = new RunPanel({
  state,
  notify: (kind, message) => notify(kind, message),
  showFrame: (index) => show(index),
  labelsChanged: () => {
    clearRunFrames();
    draw();
  },
  evaluationChanged: () => {
    matches.clear();
    draw();
  },
  parseOntology: (text, name) => batchPanel.parseOntology(text, name),
  seedOntology: () => batchPanel.seedOntology(),
  reviewReady: () => reviewPanel.refresh(),
  reviewReset: () => reviewPanel.reset(),
});

// The QA queue over the run's labels (web/review-panel.js), in the pipeline worker.
const reviewPanel = new ReviewPanel({
  state,
  notify: (kind, message) => notify(kind, message),
  call: (op, args) => runPanel.call(op, args),
  showFrame: (index) => show(index),
  labelsChanged: () => {
    labelled.clear();
    draw();
  },
  stagesChanged: (stages) => runPanel.renderStages(stages),
  redraw: () => draw(),
  toImage: (cx, cy) => [(cx - state.view.ox) / state.view.scale, (cy - state.view.oy) / state.view.scale],
  classes: () => runPanel.classes(),
  stopSegmentTest: () => segmenter.stopTesting(),
});

const batchPanel = new BatchPanel({ state, notify: (kind, message) => notify(kind, message), runPanel });

// The run's frames (web/run-panel.js): with their labels drawn by the core,
// and the evaluation's TP/FP/FN on keyframes with ground truth.
const redrawIfShown = (index) => {
  if (index === state.displayed) draw();
};
const labelled = new RunFrames({
  fetch: (index) => runPanel.labelledFrame(index),
  loaded: redrawIfShown,
  dispose: (bitmap) => bitmap.close(),
});
const matches = new RunFrames({ fetch: (index) => runPanel.frameMatches(index), loaded: redrawIfShown });

function clearRunFrames() {
  labelled.clear();
  matches.clear();
}

/** Frame `index` with the run's labels, or null (none, not yet fetched, or hidden). */
const labelledBitmap = (index) => (state.showLabels && runPanel.hasLabels() ? labelled.get(index) : null);

/** The evaluation of frame `index` (web/src/pipeline.rs → frameMatches), or null (none, not yet fetched, or hidden). */
const frameMatches = (index) => (state.showMatches && runPanel.hasEvaluation() ? matches.get(index) : null);

const detector = new Detector({
  state,
  notify: (kind, message) => notify(kind, message),
  redraw: () => draw(),
  bitmap: () => cache.pinned,
});

let clip = null; // the clip on screen (see web/clips.js)
let folder = null; // the nuScenes folder the clip on screen came from
let reopen = null; // {options, run}: reopens the clip on screen when the options change (videos, frame folders)
let gtByImage = new Map();
let keyframes = [];
let inflight = null; // frame index being decoded
let direction = 1; // last scrub direction, for prefetching
const failed = new Map(); // frame index → why it cannot be shown
const reported = new Set(); // failed frames already reported in a notice
let highlight = null; // annotation_token under the pointer in the table

const strip = new FrameStrip($('strip'), (index) => show(index));

const notices = new Notices($('notices'), state);
const notify = (kind, message) => notices.add(kind, message);
const clearNotices = () => notices.clear();

// -------------------------------------------------------------------- tasks

let task = null; // {controller}

/**
 * Runs a long step: cancels the one running, shows progress with a Cancel
 * button, reports failure (an InputError's message as is). Resolves to the
 * step's result, or null if it failed or was cancelled or superseded.
 */
async function runTask(label, work) {
  task?.controller.abort(new CancelledError());
  const mine = { controller: new AbortController() };
  task = mine;
  const { signal } = mine.controller;
  setTaskProgress({ text: `${label}…` });
  try {
    const result = await work({ signal, onProgress: (p) => task === mine && setTaskProgress(p) });
    if (signal.aborted) {
      result?.close?.();
      return null;
    }
    return result;
  } catch (e) {
    if (!(e instanceof CancelledError) && !signal.aborted) {
      notify('error', e instanceof InputError ? e.message : `${label}: ${e.message}`);
    }
    return null;
  } finally {
    if (task === mine) {
      task = null;
      setTaskProgress(null);
    }
  }
}

function cancelTask() {
  task?.controller.abort(new CancelledError());
}

function setTaskProgress(progress) {
  state.task = progress ? progress.text : null;
  $('task').hidden = !progress;
  if (progress) {
    const known = progress.total > 0;
    $('task-text').textContent = known ? `${progress.text} (${formatAmount(progress)})` : progress.text;
    const bar = $('task-progress');
    if (known) bar.value = progress.done / progress.total;
    else bar.removeAttribute('value');
  }
  updateStatus();
}

const formatAmount = ({ done, total }) =>
  total > 4096 ? `${(done / 2 ** 20).toFixed(1)} of ${(total / 2 ** 20).toFixed(1)} MiB` : `${done}/${total}`;

function updateStatus() {
  state.status = state.task ? 'loading' : clip ? 'ready' : 'idle';
  document.body.dataset.state = state.status;
  $('status').textContent = state.task ?? (clip ? 'ready' : 'idle');
}

// ------------------------------------------------------------ opening clips

const options = () => ({
  fps: Math.max(0.1, Number($('opt-fps').value) || 10),
  maxFrames: Math.max(1, Math.floor(Number($('opt-max-frames').value) || 300)),
});

async function openDemoScene() {
  clearNotices();
  const small = params.get('demo') === 'small';
  const opened = await runTask('opening the demo scene', ({ signal, onProgress }) =>
    openDemo({ small, signal, onProgress }),
  );
  if (opened) showClip(opened, { reopen: null, folder: null });
}

async function openVideoFile(file) {
  clearNotices();
  const opts = options();
  const opened = await runTask(`opening ${file.name}`, ({ signal, onProgress }) =>
    openVideo(file, { ...opts, signal, onProgress }),
  );
  if (opened) showClip(opened, { reopen: { options: opts, run: () => openVideoFile(file) }, folder: null });
}

async function openFrames(tree) {
  clearNotices();
  const opts = options();
  const opened = await runTask(`opening ${tree.name}`, ({ signal, onProgress }) =>
    openFrameFolder(tree, { ...opts, signal, onProgress }),
  );
  if (opened) showClip(opened, { reopen: { options: opts, run: () => openFrames(tree) }, folder: null });
}

function onOptionsChanged() {
  const now = options();
  if (reopen && (now.fps !== reopen.options.fps || now.maxFrames !== reopen.options.maxFrames)) reopen.run();
}

/** A folder: a nuScenes dataroot if it has `v1.0-*` tables, else frames (unless `expect` insists on nuScenes). */
async function openFolder(tree, expect) {
  clearNotices();
  try {
    const versions = await nuScenesVersions(tree);
    if (versions.length) sceneDialog.open(new NuScenesFolder(tree, versions));
    else if (expect === 'nuscenes') notify('error', await notNuScenesMessage(tree));
    else openFrames(tree);
  } catch (e) {
    notify('error', `reading the folder '${tree.name}': ${e.message}`);
  }
}

/** Loose files: one video, or image frames. */
function openFiles(files) {
  if (!files.length) return;
  if (files.length > 1 && files.every((f) => isImageName(f.name))) {
    openFrames(treeOfFiles(`${files.length} dropped images`, files));
  } else if (files.length > 1) {
    clearNotices();
    notify(
      'error',
      `Drop one video file, image frames or a folder (got ${files.length} files: ${describeFiles(files)}).`,
    );
  } else if (isImageName(files[0].name) && !isVideoFile(files[0])) {
    openFrames(treeOfFiles(files[0].name, files));
  } else {
    openVideoFile(files[0]);
  }
}

function describeFiles(files) {
  const names = files.slice(0, 3).map((f) => f.name);
  return names.join(', ') + (files.length > names.length ? ', …' : '');
}

function onFolderPicked(input, expect) {
  const tree = treeOfPickedFolder(input.files);
  input.value = '';
  if (!tree) {
    clearNotices();
    notify('error', 'The chosen folder is empty: it has no files at all.');
    return;
  }
  openFolder(tree, expect);
}

/** Chromium hands an empty folder on as a cancelled pick, so say both. */
function onFolderPickCancelled() {
  clearNotices();
  notify('warning', 'No folder was opened: the picker was cancelled, or the chosen folder is empty.');
}

// ---------------------------------------------------------- nuScenes scenes

const sceneDialog = new SceneDialog({
  runTask,
  cancelTask,
  chosen: openScene,
  shownFolder: () => folder,
  maxFrames: () => options().maxFrames,
});

async function openScene(nuscenes, { scene, channel, maxFrames }) {
  clearNotices();
  const opened = await runTask(`opening ${scene}`, ({ signal, onProgress }) =>
    nuscenes.openScene(scene, channel, maxFrames, { signal, onProgress }),
  );
  if (!opened) {
    if (nuscenes !== folder) nuscenes.close();
    return;
  }
  showClip(opened, { reopen: null, folder: nuscenes });
  const missing = opened.unavailable.map(([index]) => opened.frames[index].name);
  if (missing.length) {
    notify(
      'warning',
      `${missing.length} of ${opened.frames.length} frame images of ${scene} are not in '${nuscenes.tree.name}' ` +
        `(e.g. ${missing[0]}); those frames cannot be shown.`,
    );
  }
}

// ------------------------------------------------------------- showing a clip

function showClip(opened, { reopen: reopener, folder: source }) {
  const previous = clip;
  clip = opened;
  reopen = reopener;
  if (folder && folder !== source) folder.close();
  folder = source;
  previous?.close();
  cache.clear();
  clearRunFrames();
  failed.clear();
  reported.clear();
  for (const [index, reason] of opened.unavailable ?? []) {
    failed.set(index, reason);
    reported.add(index);
  }
  inflight = null;
  direction = 1;

  state.clip = {
    kind: opened.kind,
    name: opened.name,
    title: opened.title,
    width: opened.width,
    height: opened.height,
  };
  state.frames = opened.frames;
  state.groundTruth = opened.groundTruth;
  state.displayed = null;
  state.drawn = null;
  state.timings = { renders: {}, ...opened.timings };
  gtByImage = new Map(opened.groundTruth.map((gt) => [gt.image, gt]));
  keyframes = opened.groundTruth.length ? opened.frames.flatMap((f, i) => (f.is_key_frame ? [i] : [])) : [];

  $('clip-kind').textContent = { demo: 'demo', video: 'video', frames: 'frames', nuscenes: 'nuScenes' }[opened.kind];
  $('clip-kind').className = `badge kind-${opened.kind}`;
  $('clip-title').textContent = opened.title;
  $('change-scene').hidden = opened.kind !== 'nuscenes';
  $('placeholder').hidden = true;
  setAspect(opened.width, opened.height);
  const n = opened.frames.length;
  $('slider').max = String(n - 1);
  for (const id of ['slider', 'prev', 'next', 'prev-key', 'next-key']) $(id).disabled = false;
  for (const id of ['prev-key', 'next-key']) $(id).disabled = !keyframes.length;
  $('scrubber').setAttribute('aria-disabled', 'false');
  $('frame-count').textContent = String(n);
  buildTicks();
  strip.reset(n, opened.width && opened.height ? opened.width / opened.height : 16 / 9, new Set(keyframes));
  state.current = -1;
  updateStatus();
  updateTimings();
  show(0);
  runPanel.onClip(opened);
}

function setAspect(width, height) {
  $('stage').style.setProperty('--ar', width && height ? `${width} / ${height}` : '16 / 9');
}

// ------------------------------------------------------------ frame pumping

/** Decodes the wanted frame if missing, else its neighbour, else a missing thumbnail. */
function pump() {
  if (inflight !== null || !clip) return;
  const wanted = nextToDecode();
  if (wanted === null) return;
  inflight = wanted;
  const source = clip;
  source.frame(wanted).then(
    ({ bitmap, ms }) => {
      if (source !== clip) {
        bitmap.close();
        return;
      }
      onFrame(wanted, bitmap, ms);
    },
    (e) => {
      if (source !== clip) return;
      onFrameError(wanted, e);
    },
  );
}

function nextToDecode() {
  const usable = (i) => i >= 0 && i < state.frames.length && !cache.has(i) && !failed.has(i);
  if (usable(state.current)) return state.current;
  const next = state.current + direction;
  if (usable(next)) return next;
  if (!clip.cheapFrames) return null;
  return strip.missing().find(usable) ?? null;
}

function onFrame(index, bitmap, ms) {
  inflight = null;
  state.timings.renders[index] = ms;
  state.renderCount += 1;
  strip.offer(index, bitmap);
  cache.set(index, bitmap);
  updateTimings();
  if (index === state.current) display(index);
  pump();
}

function onFrameError(index, error) {
  inflight = null;
  failed.set(index, `frame ${index} (${state.frames[index].name}): ${error.message}`);
  if (index === state.current) display(index);
  pump();
}

// --------------------------------------------------------------- navigation

function show(index) {
  if (!clip) return;
  index = Math.max(0, Math.min(state.frames.length - 1, index));
  if (index !== state.current && state.current >= 0) direction = index > state.current ? 1 : -1;
  state.current = index;
  $('slider').value = String(index);
  strip.mark(index);
  updateFrameInfo();
  updatePanel();
  if (cache.has(index) || failed.has(index)) display(index);
  else $('status').textContent = state.task ?? `decoding frame ${index}…`;
  pump();
}

const step = (delta) => show(state.current + delta);

function stepKeyframe(dir) {
  const target =
    dir > 0 ? keyframes.find((k) => k > state.current) : [...keyframes].reverse().find((k) => k < state.current);
  if (target !== undefined) show(target);
}

/** Shows frame `index`, or why it cannot be shown (on the stage, and once as a notice). */
function display(index) {
  const failure = failed.get(index);
  if (failure && !reported.has(index)) {
    reported.add(index);
    notify('error', failure);
  }
  $('frame-failed').hidden = !failure;
  $('frame-failed').textContent = failure ?? '';
  const bitmap = failure ? null : cache.get(index);
  if (bitmap !== cache.pinned) segmenter.onFrameChanged();
  cache.pin(bitmap);
  state.displayed = index;
  if (bitmap && !(clip.width && clip.height)) setAspect(bitmap.width, bitmap.height);
  updateStatus();
  draw();
}

// ------------------------------------------------------------------ drawing

const gtOf = (index) => {
  const frame = state.frames[index];
  return frame && frame.is_key_frame ? (gtByImage.get(frame.name) ?? null) : null;
};

function visibleAnnotations(index) {
  const gt = gtOf(index);
  if (!gt) return [];
  return gt.annotations.filter((a) => state.showIgnored || a.class !== null);
}

function draw() {
  const canvas = $('view');
  const bitmap = cache.pinned;
  if (!bitmap || state.displayed === null) {
    prepareCanvas(canvas, $('stage'));
    state.drawn = state.displayed === null ? null : { index: state.displayed, boxes: 0, ignored: 0 };
    return;
  }
  const evaluated = frameMatches(state.displayed);
  // The evaluation's colours replace the plain ground-truth boxes on the frames it judged.
  const anns = state.showGt && !evaluated ? visibleAnnotations(state.displayed) : [];
  const labels = labelledBitmap(state.displayed);
  state.view = drawFrame(canvas, $('stage'), labels ?? bitmap, anns, highlight);
  const ctx = canvas.getContext('2d');
  const drawnMatches = evaluated ? drawMatches(ctx, state.view, evaluated) : null;
  detector.drawOverlay(ctx, state.view);
  segmenter.drawOverlay(ctx, state.view);
  reviewPanel.drawOverlay(ctx, state.view);
  state.drawn = {
    index: state.displayed,
    boxes: anns.length,
    ignored: anns.filter((a) => a.class === null).length,
    labels: labels !== null,
    matches: drawnMatches,
  };
  canvas.dataset.frame = String(state.displayed);
  canvas.dataset.boxes = String(anns.length);
}

// ----------------------------------------------------------------- UI parts

const fmtSeconds = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;

function updateTimings() {
  const t = state.timings;
  const parts = [];
  if (t.wasmInitMs !== undefined) parts.push(`wasm init ${fmtSeconds(t.wasmInitMs)}`);
  if (t.generateMs !== undefined) parts.push(`scene generated in ${fmtSeconds(t.generateMs)}`);
  const renders = Object.values(t.renders);
  if (renders.length) parts.push(`last frame decoded in ${fmtSeconds(renders[renders.length - 1])}`);
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
  $('frame-index').textContent = String(i);
  const time = $('frame-time');
  time.textContent = `${((frame.timestamp_us - state.frames[0].timestamp_us) / 1e6).toFixed(3)} s`;
  time.title = `${frame.timestamp_us} µs`;
  const kind = $('frame-kind');
  const hasGt = state.groundTruth.length > 0;
  kind.textContent = hasGt ? (frame.is_key_frame ? 'keyframe' : 'sweep') : 'frame';
  kind.className = `badge ${hasGt ? (frame.is_key_frame ? 'key' : 'sweep') : ''}`;
  const image = $('frame-image');
  image.textContent = frame.name;
  image.title = frame.name;
}

function updatePanel() {
  const i = state.current;
  const view = {
    clipKind: state.clip.kind,
    frames: state.frames,
    hasGt: state.groundTruth.length > 0,
    keyframes,
    gt: gtOf(i),
    annotations: visibleAnnotations(i),
    showIgnored: state.showIgnored,
  };
  const elements = { summary: $('gt-summary'), tbody: $('ann-table').querySelector('tbody'), legend: $('legend') };
  renderPanel(elements, view, i, setHighlight);
}

function setHighlight(token) {
  highlight = token;
  draw();
}

// ------------------------------------------------------------------ backend

async function showBackend() {
  const caps = await detectCapabilities();
  performance.mark('autolabel-backend');
  state.capabilities = caps;
  renderCapabilities($('capabilities'), caps);
  $('backend-webgpu').disabled = !caps.webgpu.available;
  chooseBackend(defaultBackend(caps, localStorage.getItem(BACKEND_KEY)));
}

function chooseBackend(backend) {
  state.backend = backend;
  $(`backend-${backend}`).checked = true;
  $('backend-choice').textContent = describeBackend(backend, state.capabilities);
}

function onBackendPicked(backend) {
  localStorage.setItem(BACKEND_KEY, backend);
  chooseBackend(backend);
  segmenter.onBackendChanged();
  detector.onBackendChanged();
}

// ------------------------------------------------------------------- wiring

function wireDropZone() {
  let depth = 0;
  const overlay = $('drop-overlay');
  const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
  document.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener('dragover', (e) => {
    if (carriesFiles(e)) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    const dropped = readDrop(e.dataTransfer);
    if (dropped.error) {
      clearNotices();
      notify('error', dropped.error);
    } else if (dropped.folder) {
      openFolder(dropped.folder, 'any');
    } else {
      openFiles(dropped.files);
    }
  });
}

function wireInputs() {
  $('demo').addEventListener('click', openDemoScene);
  $('demo-inline').addEventListener('click', openDemoScene);
  for (const kind of ['video', 'frames', 'nuscenes']) {
    $(`open-${kind}`).addEventListener('click', () => $(`pick-${kind}`).click());
  }
  $('pick-video').addEventListener('change', (e) => {
    const files = [...e.target.files];
    e.target.value = '';
    openFiles(files);
  });
  for (const kind of ['frames', 'nuscenes']) {
    const input = $(`pick-${kind}`);
    input.addEventListener('change', () => onFolderPicked(input, kind));
    input.addEventListener('cancel', onFolderPickCancelled);
  }
  for (const id of ['opt-fps', 'opt-max-frames']) $(id).addEventListener('change', onOptionsChanged);
  $('task-cancel').addEventListener('click', cancelTask);
  $('change-scene').addEventListener('click', () => folder && sceneDialog.open(folder));
  for (const input of document.querySelectorAll('input[name="backend"]')) {
    input.addEventListener('change', () => onBackendPicked(input.value));
  }
}

/** The header's offline badge: shown once the app shell is cached, with why not otherwise. */
function showOffline({ status, reason }) {
  const badge = $('offline-status');
  badge.hidden = status !== 'ready' && status !== 'unavailable';
  badge.textContent = status === 'ready' ? '· works offline' : '· offline use unavailable';
  badge.title = status === 'ready' ? 'the page and the models it has loaded are kept in this browser' : reason ?? '';
}

function wireViewer() {
  $('slider').addEventListener('input', (e) => show(Number(e.target.value)));
  $('prev').addEventListener('click', () => step(-1));
  $('next').addEventListener('click', () => step(1));
  $('prev-key').addEventListener('click', () => stepKeyframe(-1));
  $('next-key').addEventListener('click', () => stepKeyframe(1));
  for (const [id, key] of [['show-labels', 'showLabels'], ['show-gt', 'showGt'], ['show-matches', 'showMatches']]) {
    $(id).addEventListener('change', (e) => {
      state[key] = e.target.checked;
      if (clip) draw();
    });
  }
  $('show-ignored').addEventListener('change', (e) => {
    state.showIgnored = e.target.checked;
    if (!clip) return;
    updatePanel();
    draw();
  });
  document.addEventListener('keydown', (e) => {
    if (!clip || e.altKey || e.ctrlKey || e.metaKey || sceneDialog.isOpen) return;
    if (e.target.matches?.('input[type="number"], input[type="text"], select, textarea')) return;
    if (reviewPanel.onKey(e)) {
      e.preventDefault();
      return;
    }
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
}

window.addEventListener('error', (e) => notify('error', `page error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => notify('error', `page error: ${e.reason}`));
wireDropZone();
wireInputs();
wireViewer();
updateStatus();
performance.mark('autolabel-interactive');
showBackend();
segmenter.init();
detector.init();
runPanel.init();
reviewPanel.init($('view'));
$('qa-save').addEventListener('click', () => runPanel.download('review.json'));
batchPanel.init();
if (params.has('demo')) openDemoScene();
registerOffline(state.offline, showOffline);
