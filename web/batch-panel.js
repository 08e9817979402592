// The Batch panel: a set of images (dropped on the panel, or picked as files
// or a folder) labelled into one training ZIP by the core's batch
// (web/batch-ops.js over web/src/batch.rs, `autolabel batch`'s code). It uses
// the Run panel's detector (Grounding DINO or OWLv2), its ontology and — with
// "masks" — its segmenter; sets the training size and optional annealing (the
// core's AnnealSettings, checked by the core); shows each image's preview as
// it is made, the images that did not decode, progress with Cancel (a new Run
// starts over); and offers export.zip.
//
// Test hook: `window.__autolabel.batch` = {status (idle | running | done |
// cancelled | error), files (names chosen), plan, images ([BatchImage] so
// far: {index, file, name, objects, error?}), report (report.json), zipBytes,
// error, runs}.

import { AnnealForm } from './anneal-form.js';
import { ComputeWorker } from './compute.js';
import { readDrop, treeOfPickedFolder } from './files.js';

const $ = (id) => document.getElementById(id);

/** Hands `blob` to the browser as the download `name`. */
function save(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The files of a dropped or picked folder's top level. */
async function topLevelFiles(tree) {
  const { files } = await tree.list('');
  return (await Promise.all(files.map((name) => tree.file(name)))).filter(Boolean);
}

export class BatchPanel {
  /** `app`: {state, notify(kind, message), runPanel (its model choices and ontology)}. */
  constructor(app) {
    this.app = app;
    this.worker = null;
    this.opening = null;
    this.loaded = { detector: null, segmenter: null };
    this.files = [];
    this.zip = null;
    this.previews = [];
    // resumed: for each Run that went on from a cancelled batch, the images it had done.
    this.public = { status: 'idle', files: [], plan: null, images: [], resumed: [], report: null, zipBytes: null, error: null, runs: 0 };
    app.state.batch = this.public;
  }

  init() {
    $('batch-images').addEventListener('click', () => $('pick-batch-images').click());
    $('batch-folder').addEventListener('click', () => $('pick-batch-folder').click());
    $('pick-batch-images').addEventListener('change', (e) => {
      const files = [...e.target.files];
      e.target.value = '';
      this.choose(files, `${files.length} images`);
    });
    $('pick-batch-folder').addEventListener('change', async (e) => {
      const tree = treeOfPickedFolder(e.target.files);
      e.target.value = '';
      if (tree) this.choose(await topLevelFiles(tree), `folder '${tree.name}'`);
    });
    this.wireDrop($('batch-drop'));
    $('batch-start').addEventListener('click', () => this.run());
    $('batch-cancel').addEventListener('click', () => this.cancel());
    $('batch-download').addEventListener('click', () => this.zip && save(this.zip, 'export.zip'));
    this.anneal = new AnnealForm($('batch-anneal-box'), 'batch-anneal', 'anneal');
    this.updateControls();
  }

  /** The panel's own drop zone: what is dropped here is a batch, not a clip to open. */
  wireDrop(zone) {
    const carriesFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    zone.addEventListener('dragover', (e) => {
      if (!carriesFiles(e)) return;
      e.preventDefault();
      e.stopPropagation();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', async (e) => {
      e.preventDefault();
      e.stopPropagation();
      zone.classList.remove('over');
      document.getElementById('drop-overlay').hidden = true;
      const dropped = readDrop(e.dataTransfer);
      if (dropped.error) this.app.notify('error', `Batch: ${dropped.error}`);
      else if (dropped.folder) this.choose(await topLevelFiles(dropped.folder), `folder '${dropped.folder.name}'`);
      else this.choose(dropped.files, `${dropped.files.length} dropped files`);
    });
  }

  /** The images of the next batch (the core takes the JPG/PNG ones, in natural name order). */
  choose(files, what) {
    if (this.public.status === 'running') {
      this.app.notify('warning', 'Batch: wait for the batch to finish (or cancel it) before choosing other images.');
      return;
    }
    this.files = files;
    this.public.files = files.map((f) => f.name);
    $('batch-chosen').textContent = files.length ? `${what}: ${files.length} files chosen.` : 'No images chosen.';
    this.setStatus(files.length ? 'Ready: press Run batch.' : 'Choose images to label.');
    this.updateControls();
    if (files.length) this.open().catch((e) => this.fail(`the batch worker could not start: ${e.message}`));
  }

  /** The batch worker, with the seed ontology put in the Run panel's editor if it is empty. */
  async open() {
    if (!this.worker) {
      this.worker = new ComputeWorker({ threads: true });
      this.loaded = { detector: null, segmenter: null };
      this.opening = this.worker.call('batchOpen');
    }
    const { defaults } = await this.opening;
    this.defaults = defaults;
    const editor = this.app.runPanel.ontology;
    if (!editor.get().classes.length) editor.set(defaults.ontology);
  }

  /** An ontology file's text read by the core (the Run panel's Load JSON… without a clip open). */
  async parseOntology(text, name) {
    await this.open();
    return this.worker.call('pipelineOntology', { text, name });
  }

  /** Puts the core's seed classes in the Run panel's editor (its Seed classes button without a clip open). */
  async seedOntology() {
    await this.open();
    this.app.runPanel.ontology.set(this.defaults.ontology);
  }

  /** Loads the Run panel's chosen detector (and segmenter, for masks) into the batch worker. */
  async ensureModels(masks) {
    const slots = masks ? ['detector', 'segmenter'] : ['detector'];
    for (const slot of slots) {
      const choice = this.app.runPanel.chosen(slot);
      if (!choice) throw new Error(`choose a ${slot} checkpoint in the Run panel`);
      if (this.loaded[slot] === choice.key) continue;
      this.setStatus(`Loading the ${slot} (${choice.name})…`);
      await this.worker.call('batchModel', { slot, source: choice.source, name: choice.name }, {
        onProgress: (p) => this.setStatus(p.text),
      });
      this.loaded[slot] = choice.key;
    }
  }

  settings(masks) {
    return {
      ontology: this.app.runPanel.ontology.get(),
      size: $('batch-size').value.trim(),
      masks,
      anneal: this.anneal.settings() ?? null,
    };
  }

  async run() {
    if (this.public.status === 'running' || !this.files.length) return;
    this.zip = null;
    Object.assign(this.public, { report: null, zipBytes: null });
    Object.assign(this.public, { status: 'running', error: null });
    this.updateControls();
    const masks = $('batch-masks').checked;
    try {
      await this.open();
      await this.ensureModels(masks);
      this.setStatus('Labelling…');
      const out = await this.worker.call('batchRun', { files: this.files, settings: this.settings(masks) }, {
        onProgress: (p) => this.onProgress(p),
      });
      this.public.plan = out.plan;
      this.public.runs += 1;
      if (out.status === 'cancelled') {
        this.public.status = 'cancelled';
        this.setStatus(
          `Cancelled after ${out.done} of ${out.total} images: Run batch goes on from there ` +
            '(new images or settings start over).',
        );
        return;
      }
      this.finished(out);
    } catch (e) {
      this.fail(e.message);
      if (this.worker?.failure) this.dropWorker();
    } finally {
      this.updateControls();
    }
  }

  finished({ report, zip }) {
    this.zip = new Blob([zip], { type: 'application/zip' });
    Object.assign(this.public, { status: 'done', report, zipBytes: zip.byteLength });
    const skipped = report.failed.length ? `, ${report.failed.length} skipped (see below)` : '';
    this.setStatus(
      `Done: ${report.labelled} of ${report.images} images labelled, ${report.objects} objects${skipped}. ` +
        `export.zip is ${(zip.byteLength / 2 ** 20).toFixed(1)} MiB.`,
    );
    for (const f of report.failed) this.app.notify('warning', `Batch: skipped ${f.error}`);
  }

  onProgress(p) {
    if (p.plan) {
      this.onStarted(p.plan);
      return;
    }
    if (!p.image) {
      if (p.text) this.setStatus(p.text);
      return;
    }
    this.public.images.push(p.image);
    const bar = $('batch-progress');
    bar.hidden = false;
    bar.max = p.total;
    bar.value = p.done;
    this.setStatus(`Labelling: ${p.done}/${p.total} images (${p.image.file})…`);
    if (p.image.error) this.addSkipped(p.image);
    else this.addPreview(p.image, p.preview);
  }

  /** A batch started: a new one clears the gallery, a resumed one keeps what it had done. */
  onStarted(plan) {
    this.public.plan = plan;
    if (plan.resumed === 0) {
      this.reset();
      this.public.plan = plan;
      return;
    }
    this.public.resumed.push(plan.resumed);
    this.setStatus(`Resuming at image ${plan.resumed + 1} of ${plan.images.length}…`);
  }

  addSkipped(image) {
    const li = document.createElement('li');
    li.dataset.file = image.file;
    li.textContent = `skipped: ${image.error}`;
    $('batch-skipped').append(li);
  }

  addPreview(image, jpeg) {
    const url = URL.createObjectURL(new Blob([jpeg], { type: 'image/jpeg' }));
    this.previews.push(url);
    const figure = document.createElement('figure');
    figure.dataset.file = image.file;
    const img = Object.assign(document.createElement('img'), { src: url, alt: `${image.file} with its labels` });
    const caption = Object.assign(document.createElement('figcaption'), {
      textContent: `${image.file}: ${image.objects} object${image.objects === 1 ? '' : 's'}`,
    });
    figure.append(img, caption);
    $('batch-gallery').append(figure);
  }

  reset() {
    for (const url of this.previews) URL.revokeObjectURL(url);
    this.previews = [];
    this.zip = null;
    Object.assign(this.public, { plan: null, images: [], report: null, zipBytes: null });
    $('batch-gallery').replaceChildren();
    $('batch-skipped').replaceChildren();
    $('batch-progress').hidden = true;
  }

  /** Ends a worker that failed (a wasm panic): the next Run starts a fresh one. */
  dropWorker() {
    this.worker.terminate();
    this.worker = null;
    this.opening = null;
  }

  async cancel() {
    if (this.public.status !== 'running' || !this.worker) return;
    this.setStatus('Cancelling after the current image…');
    await this.worker.call('batchCancel');
  }

  setStatus(text) {
    $('batch-status').textContent = text;
  }

  fail(message) {
    Object.assign(this.public, { status: 'error', error: message });
    this.setStatus(message);
    this.app.notify('error', `Batch: ${message}`);
  }

  updateControls() {
    const running = this.public.status === 'running';
    $('batch-start').disabled = running || !this.files.length;
    $('batch-cancel').disabled = !running;
    $('batch-download').disabled = running || !this.zip;
  }
}
