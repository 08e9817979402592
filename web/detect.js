// The Detect panel: choose a Grounding DINO or OWLv2 checkpoint
// (models/manifest.json or dropped files; its config.json's model_type picks
// the model), load it into a model worker on the chosen backend, type a class
// list, and detect on the frame on screen. The answer is what `autolabel
// detect --prompt` prints — the normalised prompt (Grounding DINO) or the
// queries (OWLv2), boxes in frame pixels with score and label — drawn over
// the frame and listed. A failed run (empty
// prompt, thresholds out of range) names the problem and leaves the clip on
// screen.
//
// Test hook: `window.__autolabel.gd` = {status, info, load, result, ms, error}
// (info.model_type: grounding-dino | owlv2)
// (result: the report plus the `frame` it belongs to).

import { CheckpointPicker, describeLoad, seconds } from './checkpoints.js';
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
    this.generation = 0; // bumps when the model changes: stale answers are dropped
    this.public = {
      status: 'unloaded', // unloaded | loading | ready | error
      info: null, // {model_type, variant, backend, num_queries, max_text_len}
      load: null, // {source, sha256, verified, bytes, loadMs}
      running: false,
      result: null, // {frame, prompt, phrases, width, height, detections: [{box, score, label}]}
      ms: null, // the last detection's time in the worker
      wasmHeapBytes: null,
      error: null,
    };
    app.state.gd = this.public;
    this.picker = new CheckpointPicker(app, this, {
      prefix: 'gd',
      query: 'gd',
      network: ['grounding_dino', 'owlv2'],
      name: 'detector',
      loadOp: 'gdLoad',
    });
  }

  init() {
    $('gd-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.detect();
    });
    return this.picker.init();
  }

  // ------------------------------------------------------------- loading

  /** A load starts: the last model's answer goes. */
  onLoading() {
    this.generation += 1;
    this.public.running = false;
    this.setResult(null);
  }

  describeLoaded(out) {
    return `${out.info.variant} (${this.modelName(out.info)}) ${describeLoad(out)}.`;
  }

  /** What messages call the loaded model. */
  modelName(info = this.public.info) {
    return info?.model_type === 'owlv2' ? 'OWLv2' : 'Grounding DINO';
  }

  /** The backend changed: a loaded model follows it (the weights come from the cache). */
  onBackendChanged() {
    this.picker.onBackendChanged();
  }

  /** Cancel during a detection ends the worker with it: the model must be loaded again. */
  onCancel() {
    if (!this.public.running) return;
    this.generation += 1;
    this.picker.unload();
    this.public.running = false;
    this.picker.setBusy(null);
    this.updateControls();
    this.picker.setStatus('Detection cancelled; the model was unloaded with it — Load it again (from the cache).');
  }

  updateControls() {
    this.picker.updateControls();
    $('gd-detect').disabled = this.public.status !== 'ready' || this.public.running;
    const owlv2 = this.public.info?.model_type === 'owlv2';
    $('gd-text-threshold').disabled = owlv2;
    $('gd-text-threshold').title = owlv2
      ? 'Grounding DINO only: OWLv2 scores each query with one probability (its default box threshold is 0.1)'
      : 'a prompt token joins a box\'s label above this probability';
  }

  // ------------------------------------------------------------ detecting

  /**
   * The form's thresholds; an empty threshold is NaN, which the core refuses
   * by name (the form does not validate: 0.76 is a threshold too, though off
   * the spinner's step). An empty NMS field turns NMS off. OWLv2 has no text
   * threshold.
   */
  options() {
    const nms = $('gd-nms');
    return {
      prompt: $('gd-prompt').value,
      boxThreshold: $('gd-box-threshold').valueAsNumber,
      textThreshold: this.public.info?.model_type === 'owlv2' ? null : $('gd-text-threshold').valueAsNumber,
      nms: nms.value === '' ? null : nms.valueAsNumber,
    };
  }

  /** Runs the detector on the frame on screen with the form's prompt and thresholds. */
  async detect() {
    if (this.public.status !== 'ready' || this.public.running) return;
    const frame = this.app.state.displayed;
    const shown = this.app.bitmap();
    if (!shown || frame === null) {
      this.picker.fail(`${this.modelName()}: no frame on screen — open a clip, a video or an image folder first.`);
      return;
    }
    const generation = ++this.generation;
    Object.assign(this.public, { running: true, error: null });
    this.setResult(null);
    this.updateControls();
    this.picker.setBusy(`detecting on frame ${frame}…`);
    try {
      const bitmap = await createImageBitmap(shown);
      const out = await this.picker.worker.call('gdDetect', { bitmap, ...this.options() }, { transfer: [bitmap] });
      if (generation !== this.generation) return;
      Object.assign(this.public, { ms: out.ms, wasmHeapBytes: out.wasmHeapBytes });
      this.setResult({ frame, ...out.report });
    } catch (e) {
      if (generation === this.generation && !(e instanceof CancelledError)) this.picker.fail(`${this.modelName()}: ${e.message}`);
    } finally {
      if (generation === this.generation) {
        this.public.running = false;
        this.picker.setBusy(null);
        this.updateControls();
      }
    }
  }

  setResult(result) {
    this.public.result = result;
    $('gd-normalised').textContent = !result
      ? ''
      : result.queries
        ? `queries ${result.queries.map((q) => `“${q}”`).join(', ')}`
        : `read as “${result.prompt}”`;
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
