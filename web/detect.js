// The Grounding DINO panel: choose a checkpoint (models/manifest.json or
// dropped files), load it into a model worker on the chosen backend, type a
// class list, and detect on the frame on screen. The answer is what
// `autolabel detect` prints — the normalised prompt, boxes in frame pixels
// with score and label — drawn over the frame and listed. A failed run (empty
// prompt, thresholds out of range) names the problem and leaves the clip on
// screen.
//
// Test hook: `window.__autolabel.gd` = {status, info, load, result, ms, error}
// (result: the report plus the `frame` it belongs to).

import { checkpointOfFiles, describeCheckpoint, describeLoad, loadManifest, seconds } from './checkpoints.js';
import { ComputeWorker } from './compute.js';
import { CancelledError } from './errors.js';

const $ = (id) => document.getElementById(id);
const BOX_COLORS = ['#ff5d8f', '#4f9dff', '#ffb347', '#3ddc97', '#c792ea', '#f7e463', '#5ee3e3', '#ff8a5c'];

/** One colour per label, the same every run. */
function labelColor(label, labels) {
  return BOX_COLORS[labels.indexOf(label) % BOX_COLORS.length];
}

export class Detector {
  /**
   * `app`: {state, notify, redraw, bitmap(): the displayed ImageBitmap or null}.
   */
  constructor(app) {
    this.app = app;
    this.worker = null;
    this.models = [];
    this.lastSource = null;
    this.generation = 0; // bumps when the model changes: stale answers are dropped
    this.public = {
      status: 'unloaded', // unloaded | loading | ready | error
      info: null, // {variant, backend, num_queries, max_text_len}
      load: null, // {source, sha256, verified, bytes, loadMs}
      running: false,
      result: null, // {frame, prompt, phrases, width, height, detections: [{box, score, label}]}
      ms: null, // the last detection's time in the worker
      wasmHeapBytes: null,
      error: null,
    };
    app.state.gd = this.public;
  }

  async init() {
    $('gd-load').addEventListener('click', () => this.loadChosen());
    $('gd-files').addEventListener('click', () => $('pick-gd').click());
    $('pick-gd').addEventListener('change', (e) => {
      const files = [...e.target.files];
      e.target.value = '';
      this.loadFiles(files);
    });
    $('gd-model').addEventListener('change', () => this.describeChoice());
    $('gd-cancel').addEventListener('click', () => this.cancel());
    $('gd-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.detect();
    });
    try {
      this.models = await loadManifest('grounding_dino');
    } catch (e) {
      $('gd-status').textContent = `No model list (${e.message}): drop a checkpoint's files instead.`;
      return;
    }
    const select = $('gd-model');
    select.replaceChildren(
      ...this.models.map((m) => {
        const option = document.createElement('option');
        option.value = m.name;
        option.textContent = m.label ?? m.name;
        return option;
      }),
    );
    const wanted = new URLSearchParams(location.search).get('gd');
    if (wanted && this.models.some((m) => m.name === wanted)) select.value = wanted;
    await this.describeChoice();
  }

  chosen() {
    return this.models.find((m) => m.name === $('gd-model').value) ?? null;
  }

  async describeChoice() {
    const model = this.chosen();
    if (!model || this.public.status === 'loading') return;
    const text = await describeCheckpoint(model);
    if (this.public.status !== 'ready') $('gd-status').textContent = text;
    $('gd-load').title = text;
  }

  // ------------------------------------------------------------- loading

  loadChosen() {
    const model = this.chosen();
    if (!model) return;
    const url = new URL(model.url, location.href).href;
    return this.load({ url, sha256: model.sha256 ?? null }, model.name);
  }

  loadFiles(files) {
    const checkpoint = checkpointOfFiles(files, 'Grounding DINO');
    if (checkpoint.error) {
      this.fail(checkpoint.error);
      return;
    }
    return this.load({ files: checkpoint }, checkpoint.weights.name);
  }

  async load(source, name) {
    const backend = this.app.state.backend ?? 'cpu';
    this.worker?.terminate();
    this.worker = new ComputeWorker();
    this.generation += 1;
    this.lastSource = { source, name };
    Object.assign(this.public, { status: 'loading', info: null, load: null, running: false, error: null });
    this.setResult(null);
    this.setBusy(`loading ${name}…`);
    this.updateControls();
    try {
      const out = await this.worker.call('gdLoad', { ...source, backend }, { onProgress: (p) => this.progress(p) });
      Object.assign(this.public, { status: 'ready', info: out.info, load: out });
      $('gd-status').textContent = `${out.info.variant} ${describeLoad(out)}.`;
    } catch (e) {
      this.unload();
      if (e instanceof CancelledError) $('gd-status').textContent = 'Loading cancelled.';
      else this.fail(`Grounding DINO (${name}): ${e.message}`);
    } finally {
      this.setBusy(null);
      this.updateControls();
    }
  }

  /** The worker is gone (cancelled or failed): nothing is loaded. */
  unload() {
    this.worker?.terminate();
    this.worker = null;
    Object.assign(this.public, { status: 'unloaded', info: null, running: false });
  }

  /** The backend changed: a loaded model follows it (the weights come from the cache). */
  onBackendChanged() {
    if (this.lastSource && this.public.status === 'ready') this.load(this.lastSource.source, this.lastSource.name);
  }

  /** Stops the running step by ending the worker: the model must be loaded again. */
  cancel() {
    const wasRunning = this.public.running;
    this.worker?.terminate();
    if (wasRunning) {
      this.generation += 1;
      this.unload();
      this.setBusy(null);
      this.updateControls();
      $('gd-status').textContent = 'Detection cancelled; the model was unloaded with it — Load it again (from the cache).';
    }
  }

  fail(message) {
    this.public.status = this.public.info ? 'ready' : 'error';
    this.public.error = message;
    $('gd-status').textContent = message;
    this.app.notify('error', message);
  }

  progress({ text, done, total }) {
    $('gd-task-text').textContent = text;
    const bar = $('gd-task-progress');
    if (total) {
      bar.max = total;
      bar.value = done;
    } else bar.removeAttribute('value');
  }

  setBusy(text) {
    $('gd-task').hidden = !text;
    if (text) this.progress({ text });
  }

  updateControls() {
    $('gd-load').disabled = this.public.status === 'loading';
    $('gd-detect').disabled = this.public.status !== 'ready' || this.public.running;
  }

  // ------------------------------------------------------------ detecting

  /**
   * The form's thresholds; an empty threshold is NaN, which the core refuses
   * by name. An empty NMS field turns NMS off.
   */
  options() {
    const nms = $('gd-nms');
    return {
      prompt: $('gd-prompt').value,
      boxThreshold: $('gd-box-threshold').valueAsNumber,
      textThreshold: $('gd-text-threshold').valueAsNumber,
      nms: nms.value === '' ? null : nms.valueAsNumber,
    };
  }

  /** Runs the detector on the frame on screen with the form's prompt and thresholds. */
  async detect() {
    if (this.public.status !== 'ready' || this.public.running) return;
    const frame = this.app.state.displayed;
    const shown = this.app.bitmap();
    if (!shown || frame === null) {
      this.fail('Grounding DINO: no frame on screen — open a clip, a video or an image folder first.');
      return;
    }
    const generation = ++this.generation;
    Object.assign(this.public, { running: true, error: null });
    this.setResult(null);
    this.updateControls();
    this.setBusy(`detecting on frame ${frame}…`);
    try {
      const bitmap = await createImageBitmap(shown);
      const out = await this.worker.call('gdDetect', { bitmap, ...this.options() }, { transfer: [bitmap] });
      if (generation !== this.generation) return;
      Object.assign(this.public, { ms: out.ms, wasmHeapBytes: out.wasmHeapBytes });
      this.setResult({ frame, ...out.report });
    } catch (e) {
      if (generation === this.generation && !(e instanceof CancelledError)) this.fail(`Grounding DINO: ${e.message}`);
    } finally {
      if (generation === this.generation) {
        this.public.running = false;
        this.setBusy(null);
        this.updateControls();
      }
    }
  }

  setResult(result) {
    this.public.result = result;
    $('gd-normalised').textContent = result ? `read as “${result.prompt}”` : '';
    this.renderResults();
    this.app.redraw();
  }

  renderResults() {
    const list = $('gd-results');
    list.replaceChildren();
    const r = this.public.result;
    $('gd-timings').textContent = r ? `frame ${r.frame} (${r.width}×${r.height}) detected in ${seconds(this.public.ms)}` : '';
    if (!r) return;
    const labels = [...new Set(r.detections.map((d) => d.label))];
    const sorted = [...r.detections].sort((a, b) => b.score - a.score);
    for (const d of sorted) {
      const item = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = labelColor(d.label, labels);
      const [x0, y0, x1, y1] = d.box.map((v) => Math.round(v));
      item.append(swatch, `${d.label || '(no token)'} · ${d.score.toFixed(3)} · [${x0}, ${y0}, ${x1}, ${y1}]`);
      list.append(item);
    }
    if (!sorted.length) {
      const none = document.createElement('li');
      none.className = 'muted';
      none.textContent = 'no box above the box threshold';
      list.append(none);
    }
  }

  /** Draws the boxes of the frame on screen with label and score; `view` maps image → canvas. */
  drawOverlay(ctx, view) {
    const r = this.public.result;
    if (!r || r.frame !== this.app.state.displayed) return;
    const { scale, ox, oy } = view;
    const dpr = window.devicePixelRatio || 1;
    const labels = [...new Set(r.detections.map((d) => d.label))];
    ctx.save();
    ctx.lineWidth = 2 * dpr;
    ctx.font = `${12 * dpr}px ui-monospace, monospace`;
    ctx.textBaseline = 'bottom';
    for (const d of r.detections) {
      const [x0, y0, x1, y1] = d.box;
      const [cx, cy] = [ox + x0 * scale, oy + y0 * scale];
      const color = labelColor(d.label, labels);
      ctx.strokeStyle = color;
      ctx.strokeRect(cx, cy, (x1 - x0) * scale, (y1 - y0) * scale);
      const text = `${d.label} ${d.score.toFixed(2)}`;
      const width = ctx.measureText(text).width + 6 * dpr;
      const left = Math.max(0, Math.min(cx, ctx.canvas.width - width)); // the tag stays on the canvas
      const top = Math.max(cy, 16 * dpr);
      ctx.fillStyle = color;
      ctx.fillRect(left, top - 16 * dpr, width, 16 * dpr);
      ctx.fillStyle = '#000000';
      ctx.fillText(text, left + 3 * dpr, top - 2 * dpr);
    }
    ctx.restore();
  }
}
