// What the model panels (web/segment.js, web/detect.js) share about
// checkpoints: the entries of models/manifest.json for one network, what
// loading one will download, a dropped checkpoint's two files, the line that
// describes a loaded model, and the checkpoint picker itself (model list,
// Load, Files…, status line, progress and Cancel, and the model worker the
// checkpoint is loaded into).

import { ComputeWorker } from './compute.js';
import { CancelledError } from './errors.js';
import { halfKey } from './model-store.js';

const $ = (id) => document.getElementById(id);
const MANIFEST_URL = new URL('../models/manifest.json', import.meta.url);

export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
export const seconds = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;

let manifest = null; // one fetch of the model list, shared by the panels

async function fetchManifest() {
  const response = await fetch(MANIFEST_URL);
  if (!response.ok) throw new Error(`models/manifest.json: HTTP ${response.status}`);
  return (await response.json()).models;
}

/** The manifest's checkpoints of `network` (`sam2`, `grounding_dino`, `owlv2`, or an array of them). */
export async function loadManifest(network) {
  manifest ??= fetchManifest();
  const models = await manifest;
  const wanted = [network].flat();
  return models.filter((m) => wanted.includes(m.network));
}

/**
 * Says what loading `model` will download, or that it is cached (`half`: the
 * f16 copy is wanted, which a cached full file gives without a download).
 */
export async function describeCheckpoint(model, { half = false } = {}) {
  const base = new URL(model.url, location.href);
  const url = new URL('model.safetensors', base).href;
  const match = (key) => (typeof caches === 'undefined' ? null : caches.match(key).catch(() => null));
  if (half && (await match(halfKey(url)))) return `${model.name}: in this browser's cache (f16 copy) — loads offline.`;
  if (await match(url)) {
    return half
      ? `${model.name}: in this browser's cache — loads offline; the f16 copy replaces it.`
      : `${model.name}: in this browser's cache — loads offline.`;
  }
  if (model.bytes) return `${model.name}: ${mib(model.bytes['model.safetensors'])} to download once (then cached).`;
  return (
    `${model.name}: not downloaded yet — model.safetensors from ${base.host}` +
    (model.image_model_bytes_f32 ? `, more than ${mib(model.image_model_bytes_f32)} (f32; exact size once the download starts)` : '') +
    '. Downloaded once, then cached.'
  );
}

/**
 * `{config, weights}` of dropped files, or `{error}` naming what is missing
 * (`what`: the model's name in the message).
 */
export function checkpointOfFiles(files, what) {
  const config = files.find((f) => f.name === 'config.json');
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  if (config && weights) return { config, weights };
  const names = files.map((f) => f.name).join(', ') || 'nothing';
  return { error: `a ${what} checkpoint is two files, config.json and model.safetensors; got ${names}` };
}

/** "on WebGPU — 1.6 MiB downloaded, sha256 … verified, built in 0.1 s" for a load report. */
export function describeLoad({ info, build, source, sha256, verified, bytes, half, loadMs }) {
  const where = info.backend === 'webgpu' ? 'WebGPU' : cpuThreads(build);
  const from = { cache: 'from the browser cache', download: 'downloaded', files: 'from your files' }[source] + (half ? ' (f16 copy)' : '');
  const hash = verified ? `sha256 ${sha256.slice(0, 12)}… verified` : `sha256 ${sha256.slice(0, 12)}…`;
  return `on ${where} — ${mib(bytes)} ${from}, ${hash}, built in ${seconds(loadMs)}`;
}

/** The CPU build a model runs on, and why it has one thread where that is a surprise. */
function cpuThreads({ threads, note }) {
  const count = threads === 1 ? 'one thread' : `${threads} threads`;
  return `the CPU (${note ?? count})`;
}

/**
 * The checkpoint half of a model panel. Its elements are named by `prefix`
 * (`sam2`, `gd`): the list #P-model, the buttons #P-load and #P-files (which
 * opens #pick-P), the status line #P-status and the task bar #P-task with
 * #P-task-text, #P-task-progress and #P-cancel. `?<query>=NAME` preselects a
 * checkpoint of the list.
 */
export class CheckpointPicker {
  /**
   * `app`: {state, notify}. `panel`: the panel it serves, with `public` (its
   * test-hook state, whose status, info, load and error are kept here),
   * `onLoading()` (a load starts: drop what belonged to the previous model),
   * `describeLoaded(out)` (the status line of a loaded model),
   * `updateControls()` and optionally `onCancel()` (Cancel was pressed, just
   * before the worker ends).
   * `spec`: {prefix, query, network (in the manifest), name (the model's name
   * in messages), loadOp (the worker's load call)}.
   */
  constructor(app, panel, spec) {
    this.app = app;
    this.panel = panel;
    this.public = panel.public;
    this.spec = spec;
    this.worker = null;
    this.models = [];
    this.lastSource = null;
  }

  el(suffix) {
    return $(`${this.spec.prefix}-${suffix}`);
  }

  /** Wires the controls, then fills the list from the manifest. */
  async init() {
    const input = $(`pick-${this.spec.prefix}`);
    this.el('load').addEventListener('click', () => this.loadChosen());
    this.el('files').addEventListener('click', () => input.click());
    input.addEventListener('change', (e) => {
      const files = [...e.target.files];
      e.target.value = '';
      this.loadFiles(files);
    });
    this.el('model').addEventListener('change', () => this.describeChoice());
    this.el('cancel').addEventListener('click', () => this.cancel());
    this.initHalf();
    try {
      this.models = await loadManifest(this.spec.network);
    } catch (e) {
      this.setStatus(`No model list (${e.message}): drop a checkpoint's files instead.`);
      return;
    }
    this.fillList();
    await this.describeChoice();
  }

  fillList() {
    const select = this.el('model');
    select.replaceChildren(
      ...this.models.map((m) => {
        const option = document.createElement('option');
        option.value = m.name;
        option.textContent = m.label ?? m.name;
        return option;
      }),
    );
    const wanted = new URLSearchParams(location.search).get(this.spec.query);
    if (wanted && this.models.some((m) => m.name === wanted)) select.value = wanted;
  }

  chosen() {
    return this.models.find((m) => m.name === this.el('model').value) ?? null;
  }

  /** Says what loading the chosen checkpoint will download, or that it is cached. */
  /** The f16-cache checkbox, remembered across visits. */
  initHalf() {
    const key = `autolabel.${this.spec.prefix}.f16-cache`;
    const box = this.el('half');
    box.checked = localStorage.getItem(key) === '1';
    box.addEventListener('change', () => {
      localStorage.setItem(key, box.checked ? '1' : '0');
      this.describeChoice();
    });
  }

  async describeChoice() {
    const model = this.chosen();
    if (!model || this.public.status === 'loading') return;
    const text = await describeCheckpoint(model, { half: this.el('half').checked });
    if (this.public.status !== 'ready') this.setStatus(text);
    this.el('load').title = text;
  }

  setStatus(text) {
    this.el('status').textContent = text;
  }

  // ------------------------------------------------------------- loading

  loadChosen() {
    const model = this.chosen();
    if (!model) return;
    const url = new URL(model.url, location.href).href;
    return this.load({ url, sha256: model.sha256 ?? null, half: this.el('half').checked }, model.name);
  }

  loadFiles(files) {
    const checkpoint = checkpointOfFiles(files, this.spec.name);
    if (checkpoint.error) {
      this.fail(checkpoint.error);
      return;
    }
    return this.load({ files: checkpoint }, checkpoint.weights.name);
  }

  /** Loads `source` ({url, sha256} or {files}) into a new worker on the chosen backend. */
  async load(source, name) {
    const backend = this.app.state.backend ?? 'cpu';
    this.worker?.terminate();
    this.worker = new ComputeWorker({ threads: backend === 'cpu' });
    this.lastSource = { source, name };
    Object.assign(this.public, { status: 'loading', info: null, load: null, error: null });
    this.panel.onLoading();
    this.setBusy(`loading ${name}…`);
    this.panel.updateControls();
    try {
      const out = await this.worker.call(this.spec.loadOp, { ...source, backend }, { onProgress: (p) => this.progress(p) });
      Object.assign(this.public, { status: 'ready', info: out.info, load: out });
      this.setStatus(this.panel.describeLoaded(out));
    } catch (e) {
      this.unload();
      if (e instanceof CancelledError) this.setStatus('Loading cancelled.');
      else this.fail(`${this.spec.name} (${name}): ${e.message}`);
    } finally {
      this.setBusy(null);
      this.panel.updateControls();
    }
  }

  /** The worker is gone (cancelled or failed): nothing is loaded. */
  unload() {
    this.worker?.terminate();
    this.worker = null;
    Object.assign(this.public, { status: 'unloaded', info: null });
  }

  /** The backend changed: a loaded model follows it (the weights come from the cache). */
  onBackendChanged() {
    if (this.lastSource && this.public.status === 'ready') this.load(this.lastSource.source, this.lastSource.name);
  }

  /** Stops the running step by ending the worker. */
  cancel() {
    this.panel.onCancel?.();
    this.worker?.terminate();
  }

  fail(message) {
    this.public.status = this.public.info ? 'ready' : 'error';
    this.public.error = message;
    this.setStatus(message);
    this.app.notify('error', message);
  }

  // -------------------------------------------------------- the task bar

  progress({ text, done, total }) {
    this.el('task-text').textContent = text;
    const bar = this.el('task-progress');
    if (total) {
      bar.max = total;
      bar.value = done;
    } else bar.removeAttribute('value');
  }

  /** Shows the task bar with `text`, or hides it (`null`). */
  setBusy(text) {
    this.el('task').hidden = !text;
    if (text) this.progress({ text });
  }

  /** The Load button waits while a load runs. */
  updateControls() {
    this.el('load').disabled = this.public.status === 'loading';
  }
}
