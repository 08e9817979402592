// The Run panel: the whole pipeline on the clip on screen — detect → segment
// → track → evaluate → analyse → export — in one pipeline worker that owns the
// clip and the models (web/pipeline-ops.js over web/src/pipeline.rs). It
// picks the detector (Grounding DINO or OWLv2), segmenter and (optional) tracker checkpoints
// (models/manifest.json or dropped files), edits the ontology, sets the keyframe stride and the frame
// limit, shows each stage's progress (frames, rate, time left), cancels
// between two steps (finished stages and frames are kept: Run continues), and
// hands the report to web/report-view.js and the files out as downloads —
// the propagation video encoded in the page by web/video-export.js.
//
// Test hook: `window.__autolabel.pipeline` = {status (idle | opening | ready |
// running | done | cancelled | error), stages, plan, report (report.json
// parsed), thresholds, error, runs, steps (steps done per stage, all runs),
// video (the last video made: {name, codec, label, frames, bytes, seconds})}.

import { AnnealForm } from './anneal-form.js';
import { checkpointOfFiles, loadManifest, seconds } from './checkpoints.js';
import { ComputeWorker } from './compute.js';
import { OntologyEditor } from './ontology-editor.js';
import { renderReport } from './report-view.js';
import { encodeVideo } from './video-export.js';

const $ = (id) => document.getElementById(id);
const SLOTS = {
  // Either detector: the core picks Grounding DINO or OWLv2 by the checkpoint's config.json.
  detector: { network: ['grounding_dino', 'owlv2'], query: 'runDetector', name: 'Grounding DINO or OWLv2' },
  segmenter: { network: 'sam2', query: 'runSegmenter', name: 'SAM 2' },
  // SAM 2's video predictor (the official sam2.1 checkpoints carry it); "none":
  // tracks join the keyframes' masks and only keyframes are labelled.
  tracker: { network: 'sam2', query: 'runTracker', name: 'SAM 2 video', optional: true },
};
const NO_TRACKER = { key: 'none', name: 'none', source: null };
const DOWNLOADS = {
  'tracks.txt': 'text/plain',
  'labels.json': 'application/json',
  'training.zip': 'application/zip',
  'report.html': 'text/html',
  'report.json': 'application/json',
  'predictions.json': 'application/json',
  'review.json': 'application/json',
};
// Files made by the export stage (made again after a QA decision).
const EXPORTED = ['labels.json', 'tracks.txt', 'training.zip', 'report.html', 'video'];

const positiveOrNull = (input) => (input.value === '' ? null : Math.floor(input.valueAsNumber));

function describeStage(s) {
  const parts = [`${s.done}/${s.total}`];
  if (s.rate !== null) parts.push(`${s.rate.toFixed(2)}/s`);
  if (s.status !== 'done' && s.eta_seconds !== null) parts.push(`ETA ${s.eta_seconds.toFixed(0)} s`);
  if (s.status === 'done' && s.seconds > 0) parts.push(seconds(s.seconds * 1000));
  return parts.join(' · ');
}

/** "Run of 18:20 kept in this browser: stopped at segment 1/3 (…)": the offer of a kept run's meta. */
function describeKept(meta) {
  const when = new Date(meta.savedAt).toLocaleString();
  const models = Object.values(meta.models).map((m) => m.name).filter(Boolean).join(', ');
  if (meta.status === 'done') return `A finished run of this clip is kept in this browser (${when}; ${models}): Resume reopens it without running a model.`;
  const stage = meta.stages.find((s) => s.status !== 'done');
  const where = stage ? `${stage.stage} ${stage.done}/${stage.total}` : 'the end';
  return `A run of this clip is kept in this browser (${when}; ${models}), ${meta.status === 'cancelled' ? 'cancelled' : 'stopped'} at ${where}: Resume goes on from there.`;
}

/** Hands `bytes` to the browser as the download `name`. */
function save(bytes, name, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

export class RunPanel {
  /**
   * `app`: {state, notify(kind, message), showFrame(index), labelsChanged() (the run's labels changed),
   * evaluationChanged() (they were evaluated again), parseOntology(text, name) (the core reads an ontology
   * file when no clip's pipeline worker is open), reviewReady() (a finished run: the QA queue can open),
   * reviewReset() (no run to review)}.
   */
  constructor(app) {
    this.app = app;
    this.worker = null;
    this.opening = null; // the pipelineOpen promise of the worker
    this.models = { detector: [], segmenter: [], tracker: [] };
    this.dropped = { detector: null, segmenter: null, tracker: null }; // {config, weights} files chosen with Files…
    this.loaded = { detector: null, segmenter: null, tracker: null }; // what the worker's session holds
    this.public = {
      status: 'idle', stages: [], plan: null, report: null, thresholds: {}, error: null, runs: 0, steps: {}, video: null,
      kept: null, // the meta of the clip's run kept in this browser (web/run-store.js), or null
      warnings: [],
    };
    app.state.pipeline = this.public;
    this.ontology = new OntologyEditor($('ontology-rows'), app.notify);
  }

  async init() {
    this.anneal = new AnnealForm($('run-anneal-box'), 'run-anneal', 'run-anneal');
    $('run-start').addEventListener('click', () => this.run());
    $('run-cancel').addEventListener('click', () => this.cancel());
    $('run-resume').addEventListener('click', () => this.resume());
    $('run-forget').addEventListener('click', () => this.forget());
    $('ontology-load').addEventListener('click', () => $('pick-ontology').click());
    $('pick-ontology').addEventListener('change', (e) => this.onOntologyFile(e.target));
    $('ontology-save').addEventListener('click', () => this.ontology.save());
    $('ontology-reset').addEventListener('click', () => this.resetOntology());
    for (const button of document.querySelectorAll('#run-downloads button')) {
      button.addEventListener('click', () => this.download(button.dataset.file));
    }
    for (const slot of Object.keys(SLOTS)) this.initSlot(slot);
    this.updateControls();
    await Promise.all(Object.keys(SLOTS).map((slot) => this.fillSlot(slot)));
  }

  initSlot(slot) {
    const input = $(`pick-run-${slot}`);
    $(`run-${slot}-files`).addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = [...input.files];
      input.value = '';
      const checkpoint = checkpointOfFiles(files, SLOTS[slot].name);
      if (checkpoint.error) {
        this.app.notify('error', `Run panel, ${slot}: ${checkpoint.error}`);
        return;
      }
      this.dropped[slot] = checkpoint;
      const select = $(`run-${slot}`);
      const option = new Option(`${checkpoint.weights.name} (your files)`, 'files:');
      select.querySelector('option[value="files:"]')?.remove();
      select.prepend(option);
      select.value = 'files:';
    });
  }

  async fillSlot(slot) {
    try {
      this.models[slot] = await loadManifest(SLOTS[slot].network);
    } catch (e) {
      this.setStatus(`No model list (${e.message}): choose checkpoint files instead.`);
      return;
    }
    const select = $(`run-${slot}`);
    select.append(...this.models[slot].map((m) => new Option(m.label ?? m.name, m.name)));
    const wanted = new URLSearchParams(location.search).get(SLOTS[slot].query);
    if (wanted && this.models[slot].some((m) => m.name === wanted)) select.value = wanted;
  }

  // ---------------------------------------------------------------- the clip

  /** A clip is on screen: the pipeline worker opens it (a video the core cannot read: not). */
  onClip(clip) {
    this.worker?.terminate();
    this.worker = null;
    this.opening = null;
    this.opened = false;
    this.loaded = { detector: null, segmenter: null, tracker: null };
    Object.assign(this.public, { status: 'idle', stages: [], plan: null, report: null, thresholds: {}, error: null, video: null, kept: null });
    this.showKept(null);
    $('run-report').hidden = true;
    this.app.reviewReset();
    this.renderStages([]);
    this.app.labelsChanged();
    if (!clip.pipelineSource) {
      this.setStatus(clip.pipelineRefusal);
      this.updateControls();
      return;
    }
    const worker = new ComputeWorker({ threads: true });
    this.worker = worker;
    this.public.status = 'opening';
    this.setStatus('Preparing the clip for the pipeline…');
    this.updateControls();
    this.opening = this.openClip(clip, worker);
  }

  /** Opens `clip` in the pipeline `worker`; a clip replaced meanwhile is left alone. */
  async openClip(clip, worker) {
    try {
      const source = await clip.pipelineSource();
      const { defaults } = await worker.call('pipelineOpen', { source });
      if (this.worker !== worker) return;
      if (!this.ontology.get().classes.length) this.ontology.set(defaults.ontology);
      this.defaults = defaults;
      this.opened = true;
      this.public.status = 'ready';
      this.setStatus('Ready: choose the models and press Run.');
      this.updateControls();
    } catch (e) {
      if (this.worker === worker) this.fail(`the pipeline could not open the clip: ${e.message}`);
      return;
    }
    try {
      const kept = await worker.call('pipelineSaved');
      if (this.worker === worker) this.showKept(kept);
    } catch (e) {
      this.app.notify('warning', `Run: the runs kept in this browser cannot be read (${e.message})`);
    }
  }

  // -------------------------------------------------------------- kept runs

  /** Offers the clip's kept run (`meta`), or hides the offer. */
  showKept(meta) {
    this.public.kept = meta;
    $('run-kept').hidden = !meta;
    if (meta) $('run-kept-text').textContent = describeKept(meta);
    this.updateControls();
  }

  /** What Run keeps of this run in OPFS besides its outputs: the models and settings it ran with. */
  keepMeta(settings) {
    const models = Object.fromEntries(
      Object.keys(SLOTS).map((slot) => [slot, { value: $(`run-${slot}`).value, name: this.chosen(slot)?.name ?? null }]),
    );
    return { models, settings };
  }

  /** Takes up the kept run: its models and settings chosen, its outputs put back, and Run goes on. */
  async resume() {
    const meta = this.public.kept;
    if (!meta || ['running', 'opening'].includes(this.public.status)) return;
    for (const slot of Object.keys(SLOTS)) {
      const { value, name } = meta.models[slot];
      const select = $(`run-${slot}`);
      if (value === 'files:' && this.dropped[slot]?.weights.name !== name) {
        this.app.notify('error', `Run: the kept run's ${slot} was your file ${name}: choose it with Files… and press Resume again`);
        return;
      }
      if (value !== 'files:' && ![...select.options].some((o) => o.value === value)) {
        this.app.notify('error', `Run: the kept run's ${slot} (${name}) is not in the model list`);
        return;
      }
      select.value = value;
    }
    const { settings } = meta;
    this.ontology.set(settings.ontology);
    $('run-every').value = settings.every ?? '';
    $('run-max-frames').value = settings.max_frames ?? '';
    this.anneal.set(settings.anneal);
    await this.run({ resume: true });
  }

  async forget() {
    try {
      await this.worker.call('pipelineForget');
      this.showKept(null);
    } catch (e) {
      this.app.notify('error', `Run: the kept run could not be discarded (${e.message})`);
    }
  }

  resetOntology() {
    if (this.defaults) this.ontology.set(this.defaults.ontology);
    else this.app.seedOntology?.();
  }

  async onOntologyFile(input) {
    const [file] = input.files;
    input.value = '';
    if (!file) return;
    // The core reads the file: in the pipeline worker, or without a clip in the Batch panel's.
    const parse = this.worker
      ? (text, name) => this.worker.call('pipelineOntology', { text, name })
      : (text, name) => this.app.parseOntology(text, name);
    await this.ontology.load(file, parse);
  }

  // ------------------------------------------------------------------ models

  /** The checkpoint chosen for `slot`: {key, name, source} or null. */
  chosen(slot) {
    const value = $(`run-${slot}`).value;
    if (SLOTS[slot].optional && value === '') return NO_TRACKER;
    if (value === 'files:' && this.dropped[slot]) {
      const files = this.dropped[slot];
      return { key: files.weights, name: files.weights.name, source: { files } };
    }
    const model = this.models[slot].find((m) => m.name === value);
    if (!model) return null;
    const url = new URL(model.url, location.href).href;
    return { key: url, name: model.name, source: { url, sha256: model.sha256 ?? null, half: false } };
  }

  /** Loads the chosen checkpoints the worker does not hold yet. */
  async ensureModels() {
    for (const slot of Object.keys(SLOTS)) {
      const choice = this.chosen(slot);
      if (!choice) throw new Error(`choose a ${SLOTS[slot].name} checkpoint for the ${slot}`);
      if (this.loaded[slot] === choice.key) continue;
      this.setStatus(`Loading the ${slot} (${choice.name})…`);
      await this.worker.call('pipelineModel', { slot, source: choice.source, name: choice.name }, {
        onProgress: (p) => this.setStatus(p.text),
      });
      this.loaded[slot] = choice.key;
    }
  }

  // --------------------------------------------------------------------- run

  settings() {
    return {
      ontology: this.ontology.get(),
      every: positiveOrNull($('run-every')),
      max_frames: positiveOrNull($('run-max-frames')),
      anneal: this.anneal.settings() ?? null,
    };
  }

  /** Runs the pipeline (`resume`: first takes up the clip's kept run). */
  async run({ resume = false } = {}) {
    if (!this.worker || ['running', 'opening'].includes(this.public.status)) return;
    await this.opening;
    if (!this.opened) return;
    Object.assign(this.public, { status: 'running', error: null });
    this.updateControls();
    try {
      await this.ensureModels();
      if (resume) {
        const resumed = await this.worker.call('pipelineResume');
        this.public.resumed = resumed.stages;
        this.renderStages(resumed.stages);
      }
      this.showKept(null);
      this.setStatus('Running…');
      const settings = this.settings();
      const out = await this.worker.call('pipelineRun', { settings, keep: this.keepMeta(settings) }, {
        onProgress: (p) => this.onProgress(p),
      });
      this.public.plan = out.plan;
      this.public.runs += 1;
      this.renderStages(out.stages);
      if (out.status === 'cancelled') {
        this.public.status = 'cancelled';
        this.setStatus('Cancelled: the finished stages are kept — Run continues from where it stopped.');
        return;
      }
      this.showReport(out.report);
      this.public.status = 'done';
      this.app.labelsChanged();
      this.app.reviewReady();
      const skipped = this.public.report.skipped_frames;
      for (const skip of skipped) this.app.notify('warning', `Run: frame ${skip.frame} skipped, not labelled: ${skip.reason}`);
      this.setStatus(
        `Done: caption "${out.plan.caption}", ${out.plan.frames.length} frames, detection on ${out.plan.keyframes.length}` +
          (skipped.length ? `, ${skipped.length} frame(s) skipped (they do not decode: see the notices).` : '.'),
      );
    } catch (e) {
      this.fail(e.message);
    } finally {
      this.updateControls();
    }
  }

  onProgress(p) {
    if (p.saved) {
      this.public.saved = p.saved;
      $('run-kept-status').textContent = `Kept in this browser at ${new Date(p.saved.savedAt).toLocaleTimeString()}: a reload offers to resume.`;
      return;
    }
    if (p.warning) {
      this.public.warnings.push(p.warning);
      this.app.notify('warning', `Run: ${p.warning}`);
      return;
    }
    if (p.stage) this.public.steps[p.stage] = (this.public.steps[p.stage] ?? 0) + 1;
    if (p.stages) this.renderStages(p.stages);
    else if (p.text) this.setStatus(p.text);
  }

  async cancel() {
    if (this.public.status !== 'running' || !this.worker) return;
    this.setStatus('Cancelling after the current step…');
    await this.worker.call('pipelineCancel');
  }

  // ------------------------------------------------------------------ labels

  /** Calls an op of the pipeline worker (the QA queue's). */
  call(op, args) {
    if (!this.worker) return Promise.reject(new Error('no clip in the pipeline'));
    return this.worker.call(op, args);
  }

  /** The run's class names (the ontology's). */
  classes() {
    return this.ontology.get().classes.map((c) => c.name);
  }

  /** Whether the run has labels to draw (track has run). */
  hasLabels() {
    return this.public.stages.some((s) => s.stage === 'track' && s.status === 'done');
  }

  /** Whether the run has an evaluation to colour frames with (evaluate has run). */
  hasEvaluation() {
    return this.public.stages.some((s) => s.stage === 'evaluate' && s.status === 'done');
  }

  /** What the evaluation made of frame `index`'s objects (the core's FrameMatches), or null. */
  async frameMatches(index) {
    if (!this.worker || this.public.status === 'running') return null;
    try {
      return await this.worker.call('pipelineMatches', { index });
    } catch (e) {
      this.app.notify('error', `TP/FP/FN of frame ${index}: ${e.message}`);
      return null;
    }
  }

  /** Frame `index` with the run's labels drawn (an ImageBitmap), or null. */
  async labelledFrame(index) {
    if (!this.worker || this.public.status === 'running') return null;
    try {
      return (await this.worker.call('pipelineLabelled', { index }))?.bitmap ?? null;
    } catch {
      return null;
    }
  }

  // ------------------------------------------------------------------ report

  showReport(json) {
    this.public.report = JSON.parse(json);
    $('run-report').hidden = false;
    const shown = { ...this.ontology.boxThresholds(), ...this.public.thresholds };
    renderReport($('run-report-body'), this.public.report, shown, {
      threshold: (cls, value) => this.setThreshold(cls, value),
      frame: (index) => this.app.showFrame(index),
    });
  }

  /** Re-evaluates with `cls` at score `value` (no detection runs again). */
  async setThreshold(cls, value) {
    const thresholds = { ...this.public.thresholds, [cls]: value };
    try {
      const { report, stages } = await this.worker.call('pipelineThresholds', { thresholds });
      this.public.thresholds = thresholds;
      this.renderStages(stages);
      this.showReport(report);
      this.app.evaluationChanged();
      this.app.reviewReady();
      this.setStatus(
        `Re-evaluated with ${cls} at score ≥ ${value} (no detection ran again). ` +
          'labels.json keeps every label; report.html is remade with these numbers on download.',
      );
    } catch (e) {
      this.app.notify('error', `score threshold of ${cls}: ${e.message}`);
    }
  }

  async download(name) {
    try {
      const stale = this.public.stages.some((s) => s.stage === 'export' && s.status !== 'done');
      if (stale && EXPORTED.includes(name)) await this.run();
      if (name === 'video') {
        await this.downloadVideo();
        return;
      }
      const { bytes, warnings } = await this.worker.call('pipelineFile', { name });
      for (const w of warnings) this.app.notify('warning', `${name}: ${w}`);
      save(bytes, name, DOWNLOADS[name]);
    } catch (e) {
      this.app.notify('error', `${name === 'video' ? 'propagation video' : name}: ${e.message}`);
    }
  }

  /** Encodes the labelled frames the worker draws into the propagation video and saves it. */
  async downloadVideo() {
    const button = document.querySelector('#run-downloads button[data-file="video"]');
    button.disabled = true;
    try {
      const t0 = performance.now();
      const plan = await this.worker.call('pipelineVideoPlan');
      const frameAt = async (index) => {
        const drawn = await this.worker.call('pipelineLabelled', { index });
        if (!drawn) throw new Error(`frame ${index} has no labels to draw`);
        return drawn.bitmap;
      };
      const video = await encodeVideo(plan, frameAt, (done, total) =>
        this.setStatus(`Encoding the propagation video: frame ${done}/${total}…`),
      );
      const seconds = (performance.now() - t0) / 1000;
      this.public.video = { name: video.name, codec: video.codec, label: video.label, frames: video.frames, bytes: video.bytes.byteLength, seconds };
      this.setStatus(`${video.name}: ${video.frames} frames at ${plan.fps.toFixed(2)} fps, ${video.label}, encoded in ${seconds.toFixed(1)} s.`);
      save(video.bytes, video.name, video.mime);
    } finally {
      this.updateControls();
    }
  }

  // --------------------------------------------------------------------- view

  renderStages(stages) {
    this.public.stages = stages;
    $('run-stages').replaceChildren(
      ...stages.map((s) => {
        const li = document.createElement('li');
        li.dataset.stage = s.stage;
        li.dataset.status = s.status;
        const bar = document.createElement('progress');
        bar.max = Math.max(1, s.total);
        bar.value = s.done;
        li.append(Object.assign(document.createElement('span'), { className: 'stage-name', textContent: s.stage }), bar,
          Object.assign(document.createElement('span'), { className: 'stage-info small', textContent: describeStage(s) }));
        return li;
      }),
    );
  }

  setStatus(text) {
    $('run-status').textContent = text;
  }

  fail(message) {
    Object.assign(this.public, { status: 'error', error: message });
    this.setStatus(message);
    this.app.notify('error', `Run: ${message}`);
    this.updateControls();
  }

  updateControls() {
    const { status } = this.public;
    $('run-start').disabled = !this.worker || ['running', 'opening'].includes(status);
    $('run-resume').disabled = $('run-start').disabled;
    $('run-forget').disabled = $('run-start').disabled;
    $('run-cancel').disabled = status !== 'running';
    const done = this.public.report !== null;
    for (const button of document.querySelectorAll('#run-downloads button')) button.disabled = !done || status === 'running';
  }
}
