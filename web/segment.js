// The SAM 2 panel and its Test mode: choose a checkpoint (models/manifest.json
// or dropped files), load it into a model worker on the chosen backend, then
// click points (Shift+click: background) or drag a box on the frame on screen
// and see the masks with their scores. The frame is encoded once; changing
// prompts only re-runs the decoder.

import { CheckpointPicker, describeLoad, seconds } from './checkpoints.js';
import { CancelledError } from './errors.js';
import { PromptCanvas } from './prompt-canvas.js';

const $ = (id) => document.getElementById(id);
const MASK_COLORS = [
  [61, 220, 151],
  [79, 157, 255],
  [255, 159, 67],
];

export class Segmenter {
  /**
   * `app`: {state, notify, redraw, bitmap(): the displayed ImageBitmap or null,
   * toImage(canvasX, canvasY): image pixels}.
   */
  constructor(app) {
    this.app = app;
    this.prompt = { points: [], box: null };
    this.overlays = [];
    this.chosenMask = 0;
    this.generation = 0; // bumps when the frame or the model changes: stale answers are dropped
    this.public = {
      status: 'unloaded', // unloaded | loading | ready | error
      info: null,
      load: null, // {source, sha256, verified, bytes, loadMs}
      encoded: null, // {frame, ms, width, height}
      predictions: null, // [{masks: [{rle, area, score, bbox}], object_score}]
      decodeMs: null,
      wasmHeapBytes: null, // the worker's wasm heap after the last call (its peak so far)
      prompt: this.prompt,
      error: null,
    };
    app.state.sam2 = this.public;
    this.picker = new CheckpointPicker(app, this, {
      prefix: 'sam2',
      query: 'sam2',
      network: 'sam2',
      name: 'SAM 2',
      loadOp: 'sam2Load',
    });
  }

  init() {
    $('sam2-test').addEventListener('change', () => this.setTestMode($('sam2-test').checked));
    $('sam2-multimask').addEventListener('change', () => this.run());
    $('sam2-clear').addEventListener('click', () => this.clearPrompts());
    this.wireCanvas($('view'));
    return this.picker.init();
  }

  // ------------------------------------------------------------- loading

  /** A load starts: the last model's encoding, prompts and masks go. */
  onLoading() {
    this.generation += 1;
    this.public.encoded = null;
    this.clearPrompts();
  }

  describeLoaded(out) {
    return `${out.info.variant} (${out.info.image_size} px) ${describeLoad(out)}.`;
  }

  /** The backend changed: a loaded model follows it (the weights come from the cache). */
  onBackendChanged() {
    this.picker.onBackendChanged();
  }

  updateControls() {
    const ready = this.public.status === 'ready';
    $('sam2-test').disabled = !ready;
    if (!ready) $('sam2-test').checked = false;
    $('sam2-tools').hidden = !(ready && $('sam2-test').checked);
    this.picker.updateControls();
  }

  // --------------------------------------------------------- test prompts

  setTestMode(on) {
    $('view').classList.toggle('prompting', on);
    this.updateControls();
    if (!on) this.clearPrompts();
  }

  /** Test mode off (another tool takes the canvas's clicks). */
  stopTesting() {
    if (!$('sam2-test').checked) return;
    $('sam2-test').checked = false;
    this.setTestMode(false);
  }

  get testing() {
    return this.public.status === 'ready' && $('sam2-test').checked;
  }

  /** The frame on screen changed: its prompts and masks no longer apply. */
  onFrameChanged() {
    if (this.prompt.points.length || this.prompt.box || this.overlays.length) this.clearPrompts();
  }

  clearPrompts() {
    this.prompt.points = [];
    this.prompt.box = null;
    this.overlays = [];
    this.public.predictions = null;
    this.generation += 1;
    this.renderResults();
    this.app.redraw();
  }

  wireCanvas(canvas) {
    this.pointer = new PromptCanvas(canvas, {
      active: () => this.testing && Boolean(this.app.bitmap()),
      toImage: this.app.toImage,
      onBox: (box) => {
        this.prompt.box = box;
        this.run();
      },
      onPoint: (point) => {
        this.prompt.points.push(point);
        this.run();
      },
      redraw: this.app.redraw,
    });
  }

  /** Encodes the frame on screen if it is not the encoded one, then decodes the prompt. */
  async run() {
    if (!this.testing || (!this.prompt.points.length && !this.prompt.box)) return;
    const generation = ++this.generation;
    const frame = this.app.state.displayed;
    try {
      if (this.public.encoded?.frame !== frame) {
        this.public.encoded = null;
        this.picker.setBusy('encoding the frame (SAM 2 image encoder)…');
        const bitmap = await createImageBitmap(this.app.bitmap());
        const out = await this.picker.worker.call('sam2SetImage', { bitmap }, { transfer: [bitmap] });
        if (generation !== this.generation) return;
        this.public.encoded = { frame, ...out };
      }
      this.picker.setBusy('decoding the prompt…');
      const prompts = [{ points: this.prompt.points, box: this.prompt.box }];
      const multimask = $('sam2-multimask').checked;
      const { predictions, ms, wasmHeapBytes } = await this.picker.worker.call('sam2Predict', { prompts, multimask });
      if (generation !== this.generation) return;
      this.public.wasmHeapBytes = wasmHeapBytes;
      this.show(predictions, ms);
    } catch (e) {
      if (!(e instanceof CancelledError)) this.picker.fail(`SAM 2: ${e.message}`);
    } finally {
      if (generation === this.generation) this.picker.setBusy(null);
    }
  }

  show(predictions, ms) {
    const [prediction] = predictions;
    const { width, height } = this.public.encoded;
    this.overlays = prediction.masks.map((m, i) => maskCanvas(m.data, width, height, MASK_COLORS[i % MASK_COLORS.length]));
    const best = prediction.masks.reduce((bi, m, i, all) => (m.score > all[bi].score ? i : bi), 0);
    this.chosenMask = best;
    this.public.predictions = predictions.map((p) => ({
      object_score: p.object_score,
      masks: p.masks.map(({ rle, area, score, bbox }) => ({ rle, area, score, bbox })),
    }));
    this.public.decodeMs = ms;
    this.renderResults();
    this.app.redraw();
  }

  renderResults() {
    const list = $('sam2-results');
    list.replaceChildren();
    const p = this.public.predictions?.[0];
    const timings = [];
    if (this.public.encoded) timings.push(`frame encoded in ${seconds(this.public.encoded.ms)}`);
    if (p) timings.push(`prompt decoded in ${seconds(this.public.decodeMs)}`);
    $('sam2-timings').textContent = timings.join(' · ');
    if (!p) return;
    p.masks.forEach((m, i) => {
      const item = document.createElement('li');
      item.className = i === this.chosenMask ? 'chosen' : '';
      const [r, g, b] = MASK_COLORS[i % MASK_COLORS.length];
      item.innerHTML = `<span class="swatch" style="background: rgb(${r} ${g} ${b})"></span>`;
      item.append(`mask ${i + 1} · predicted IoU ${m.score.toFixed(3)} · ${m.area.toLocaleString('en')} px`);
      item.addEventListener('click', () => {
        this.chosenMask = i;
        this.renderResults();
        this.app.redraw();
      });
      list.append(item);
    });
    const object = document.createElement('li');
    object.className = 'muted';
    object.textContent = `object score ${p.object_score.toFixed(2)} (${p.object_score > 0 ? 'an object' : 'no object'} per the model)`;
    list.append(object);
  }

  /** Draws the chosen mask and the prompts over the frame; `view` maps image → canvas. */
  drawOverlay(ctx, view) {
    const { scale, ox, oy } = view;
    const overlay = this.overlays[this.chosenMask];
    if (overlay) {
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(overlay, ox, oy, overlay.width * scale, overlay.height * scale);
      ctx.restore();
    }
    this.pointer.draw(ctx, view, this.prompt);
  }
}

/** A frame-sized canvas with the mask's pixels in `color`, half transparent. */
function maskCanvas(data, width, height, [r, g, b]) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const image = new ImageData(width, height);
  const px = image.data;
  for (let i = 0; i < data.length; i++) {
    if (!data[i]) continue;
    px[4 * i] = r;
    px[4 * i + 1] = g;
    px[4 * i + 2] = b;
    px[4 * i + 3] = 120;
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
  return canvas;
}
