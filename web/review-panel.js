// The QA queue: step through the run's labels, hardest first (the
// evaluation's failure cases, then the labels the detector was least sure
// of), and accept, delete (the label, or its whole track) or fix each — drag
// a new box on the frame, click points for SAM 2 (Shift+click: background),
// pick the class, Apply. The queue, the decisions and SAM 2's mask for a fix
// are the core's (web/src/pipeline.rs → autolabel::pipeline::review); this
// file shows the queue, takes the clicks and draws the item's box. The
// downloads then carry the reviewed labels (labels.json with a `reviewed`
// flag), and review.json keeps the decisions for `autolabel run --review`.

import { PromptCanvas } from './prompt-canvas.js';

const $ = (id) => document.getElementById(id);
const ACTIONS = { accept: 'accepted', delete: 'deleted', delete_track: 'track deleted', fix: 'fixed' };
const keyOf = (label) => `${label.frame}/${label.track_id}`;
const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

export class ReviewPanel {
  /**
   * `app`: {state, notify(kind, message), call(op, args) (the pipeline worker's op), showFrame(index),
   * labelsChanged() (the labels on screen changed), stagesChanged(stages), redraw(), toImage(canvasX, canvasY),
   * classes() (the run's class names), stopSegmentTest() (the SAM 2 panel's clicks off the canvas)}.
   */
  constructor(app) {
    this.app = app;
    this.items = [];
    this.position = 0;
    this.decisions = new Map(); // "frame/track_id" → action
    this.fix = null; // {box, points} while a fix is drawn
    this.busy = false;
    this.public = { items: 0, position: 0, current: null, summary: null, edits: [], fixing: false, busy: false };
    app.state.review = this.public;
  }

  init(canvas) {
    $('qa-prev').addEventListener('click', () => this.go(this.position - 1));
    $('qa-next').addEventListener('click', () => this.go(this.position + 1));
    $('qa-accept').addEventListener('click', () => this.decide({ action: 'accept' }));
    $('qa-delete').addEventListener('click', () => this.decide({ action: 'delete' }));
    $('qa-delete-track').addEventListener('click', () => this.decide({ action: 'delete_track' }));
    $('qa-fix').addEventListener('click', () => this.startFix());
    $('qa-undo').addEventListener('click', () => this.undo());
    $('qa-fix-apply').addEventListener('click', () => this.applyFix());
    $('qa-fix-cancel').addEventListener('click', () => this.endFix());
    $('qa-load').addEventListener('click', () => $('pick-review').click());
    $('pick-review').addEventListener('change', (e) => this.load(e.target));
    this.wireCanvas(canvas);
  }

  /** Keyboard shortcuts while the queue is open: A accept, D delete, F fix, N / P next / previous. */
  onKey(e) {
    if ($('qa').hidden || this.busy) return false;
    const actions = {
      a: () => this.decide({ action: 'accept' }),
      d: () => this.decide({ action: 'delete' }),
      f: () => this.startFix(),
      n: () => this.go(this.position + 1),
      p: () => this.go(this.position - 1),
    };
    const action = actions[e.key];
    if (!action) return false;
    action();
    return true;
  }

  // ------------------------------------------------------------------ queue

  /** The run finished or was evaluated again: fetch the queue, staying on the label shown. */
  async refresh() {
    const was = this.current();
    try {
      const out = await this.app.call('pipelineQueue');
      this.items = out.items;
      this.takeState(out);
    } catch (e) {
      this.app.notify('error', `QA queue: ${e.message}`);
      return;
    }
    const again = was ? this.items.findIndex((i) => keyOf(i) === keyOf(was)) : -1;
    this.position = again >= 0 ? again : 0;
    $('qa').hidden = false;
    this.render();
  }

  /** The clip or the run changed: no queue. */
  reset() {
    this.items = [];
    this.position = 0;
    this.decisions.clear();
    this.fix = null;
    Object.assign(this.public, { items: 0, position: 0, current: null, summary: null, edits: [], fixing: false });
    $('qa').hidden = true;
  }

  current() {
    return this.items[this.position] ?? null;
  }

  go(position) {
    if (!this.items.length) return;
    this.endFix();
    this.position = Math.max(0, Math.min(this.items.length - 1, position));
    this.render();
  }

  /** The decisions the core holds now ({edits, summary, stages}). */
  takeState({ edits, summary, stages }) {
    this.decisions = new Map(edits.map((e) => [keyOf(e), e.action]));
    Object.assign(this.public, { edits, summary });
    if (stages) this.app.stagesChanged(stages);
  }

  // -------------------------------------------------------------- decisions

  async decide(decision) {
    const item = this.current();
    if (!item || this.busy) return;
    const edit = { frame: item.frame, track_id: item.track_id, ...decision };
    const ok = await this.ask(decision.action === 'fix' ? 'segmenting the fix with SAM 2…' : null, () =>
      this.app.call('pipelineDecide', { edit }),
    );
    if (!ok) return;
    this.fix = null;
    this.app.labelsChanged();
    this.go(this.position + 1);
  }

  async undo() {
    const item = this.current();
    if (!item || !this.decisions.has(keyOf(item))) return;
    if (await this.ask(null, () => this.app.call('pipelineUndo', { label: { frame: item.frame, track_id: item.track_id } }))) {
      this.app.labelsChanged();
      this.render();
    }
  }

  async load(input) {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    const text = await file.text();
    if (await this.ask(`taking up ${file.name}…`, () => this.app.call('pipelineReviewLoad', { text, name: file.name }))) {
      this.app.labelsChanged();
      this.render();
    }
  }

  /** Runs a worker call that returns the review's state; says why it failed. Whether it worked. */
  async ask(text, call) {
    this.busy = true;
    this.public.busy = true;
    this.renderControls();
    if (text) $('qa-status').textContent = text;
    try {
      this.takeState(await call());
      return true;
    } catch (e) {
      this.app.notify('error', `QA queue: ${e.message}`);
      return false;
    } finally {
      this.busy = false;
      this.public.busy = false;
      $('qa-status').textContent = '';
      this.render();
    }
  }

  // -------------------------------------------------------------------- fix

  startFix() {
    const item = this.current();
    if (!item || this.busy) return;
    this.app.stopSegmentTest();
    this.fix = { box: [...item.box], points: [] };
    const select = $('qa-class');
    select.replaceChildren(...this.app.classes().map((c) => new Option(c, c)));
    select.value = item.class;
    this.public.fixing = true;
    this.render();
    $('stage').scrollIntoView({ block: 'nearest' });
  }

  endFix() {
    if (!this.fix) return;
    this.fix = null;
    this.public.fixing = false;
    this.render();
  }

  applyFix() {
    if (!this.fix) return;
    const box = this.fix.box.map((v) => Math.round(v * 100) / 100);
    this.decide({ action: 'fix', class: $('qa-class').value, box, points: this.fix.points });
  }

  wireCanvas(canvas) {
    this.pointer = new PromptCanvas(canvas, {
      active: () => Boolean(this.fix) && this.app.state.displayed === this.current()?.frame,
      toImage: (x, y) => this.clamp(this.app.toImage(x, y)),
      onBox: (box) => {
        this.fix.box = box;
        this.render();
      },
      onPoint: (point) => {
        this.fix.points.push(point);
        this.render();
      },
      redraw: this.app.redraw,
    });
  }

  /** A point inside the frame. */
  clamp([x, y]) {
    const { width, height } = this.app.state.clip ?? {};
    return [Math.max(0, Math.min(width ?? x, x)), Math.max(0, Math.min(height ?? y, y))];
  }

  // ---------------------------------------------------------------- drawing

  render() {
    const item = this.current();
    Object.assign(this.public, { items: this.items.length, position: this.position, current: item, fixing: Boolean(this.fix) });
    $('qa-position').textContent = this.items.length ? `${this.position + 1} of ${this.items.length}` : 'no labels';
    $('qa-item').innerHTML = item ? this.describe(item) : 'The run made no labels to review.';
    $('qa-fix-tools').hidden = !this.fix;
    $('view').classList.toggle('prompting', Boolean(this.fix));
    const s = this.public.summary;
    $('qa-summary').textContent = s
      ? `${s.accepted} accepted · ${s.fixed} fixed · ${s.deleted} deleted · ${s.tracks_deleted} track(s) deleted — ` +
        'the downloads carry the reviewed labels'
      : '';
    this.renderControls();
    if (item && this.app.state.current !== item.frame) this.app.showFrame(item.frame);
    else this.app.redraw();
  }

  describe(item) {
    const decided = this.decisions.get(keyOf(item));
    const kind = item.kind ? `<b>${escapeHtml(item.kind.replaceAll('_', ' '))}</b>: ` : '';
    return (
      `frame ${item.frame} · track ${item.track_id} · <b>${escapeHtml(item.class)}</b> ${item.score.toFixed(2)} — ` +
      `${kind}${escapeHtml(item.reason)}` +
      (decided ? ` · <span class="qa-decided">${ACTIONS[decided] ?? decided}</span>` : '')
    );
  }

  renderControls() {
    const item = this.current();
    const idle = Boolean(item) && !this.busy;
    for (const id of ['qa-accept', 'qa-delete', 'qa-delete-track', 'qa-fix']) $(id).disabled = !idle || Boolean(this.fix);
    $('qa-undo').disabled = !idle || !this.decisions.has(keyOf(item));
    $('qa-prev').disabled = this.busy || this.position === 0;
    $('qa-next').disabled = this.busy || this.position >= this.items.length - 1;
    $('qa-fix-apply').disabled = this.busy;
    $('qa-load').disabled = this.busy || !this.items.length;
  }

  /** The item's box (or the fix being drawn, with its points) over its frame; `view` maps image → canvas. */
  drawOverlay(ctx, view) {
    const item = this.current();
    if ($('qa').hidden || !item || this.app.state.displayed !== item.frame) return;
    const { box, points } = this.fix ?? { box: item.box, points: [] };
    this.pointer.draw(ctx, view, { box, points, color: this.fix ? '#ffffff' : '#ffe14d' });
  }
}
