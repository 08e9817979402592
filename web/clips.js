// Opening clips. Every opener resolves to a clip object:
//   {kind: 'demo' | 'video' | 'frames' | 'nuscenes', name, title, width, height,
//    demoSmall (the demo scene's 13-frame 640×360 variant),
//    frames: [{index, timestamp_us, name, is_key_frame}], groundTruth: [KeyframeGt],
//    cheapFrames (decoding a frame is fast enough to prefetch thumbnails),
//    frame(index) → {bitmap, ms}, close(), and optionally
//    unavailable: [[index, reason]] for frames known not to decode,
//    pipelineSource() → what the pipeline worker opens (web/pipeline-ops.js),
//    or pipelineRefusal: why the pipeline cannot take the clip (a video
//    that is not H.264 MP4, or a page that cannot decode it for the pipeline)}
// Long steps take {signal, onProgress}; aborting the signal stops them.
// `width`/`height` may be null (image folders): the first decoded frame tells.

import { ComputeWorker } from './compute.js';
import { CancelledError, InputError } from './errors.js';

const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png'];
const NUSCENES_VERSION = /^v\d+\.\d+-/;

const extension = (name) => name.slice(name.lastIndexOf('.') + 1).toLowerCase();
export const isImageName = (name) => IMAGE_EXTENSIONS.includes(extension(name));

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const sample = (names, max = 4) => names.slice(0, max).join(', ') + (names.length > max ? ', …' : '');

/** Runs `work(worker)` in a fresh worker that `signal` terminates; on failure the worker goes too. */
async function inFreshWorker(signal, work) {
  const worker = new ComputeWorker();
  const stop = () => worker.terminate();
  signal.addEventListener('abort', stop);
  try {
    return await work(worker);
  } catch (e) {
    worker.terminate();
    throw e;
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** `promise`, or a CancelledError as soon as `signal` aborts (the work itself runs on). */
function unlessAborted(promise, signal) {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// ------------------------------------------------------------------ demo scene

export function openDemo({ small, signal, onProgress }) {
  return inFreshWorker(signal, async (worker) => {
    const { clip, timings } = await worker.call('demo', { small }, { onProgress });
    return {
      kind: 'demo',
      demoSmall: Boolean(small),
      name: clip.name,
      title: `${clip.name} · synthetic nuScenes scene, CAM_FRONT`,
      width: clip.width,
      height: clip.height,
      frames: clip.frames,
      groundTruth: clip.groundTruth,
      timings,
      cheapFrames: false,
      frame: (index) => worker.call('render', { index }),
      pipelineSource: async () => ({ kind: 'demo', small: Boolean(small) }),
      close: () => worker.terminate(),
    };
  });
}

// --------------------------------------------------------------- frame folder

/** Decodes `files[index]` in `worker`, or says which file is missing. */
function fileFrameReader(worker, frames, fileOf, folderName) {
  return async (index) => {
    const file = await fileOf(index);
    if (!file) throw new Error(`${frames[index].name} is not in the folder '${folderName}'`);
    return worker.call('decode', { file });
  };
}

export async function openFrameFolder(tree, { fps, maxFrames, signal, onProgress }) {
  onProgress({ text: `listing ${tree.name}…` });
  const { files, dirs } = await tree.list('');
  if (!files.length && !dirs.length) throw new InputError(`The folder '${tree.name}' is empty.`);
  if (!files.some(isImageName)) {
    const holds = [
      files.length ? `${plural(files.length, 'file')} (${sample(files)})` : null,
      dirs.length ? `${plural(dirs.length, 'subfolder')} (${sample(dirs)})` : null,
    ].filter(Boolean);
    throw new InputError(
      `The folder '${tree.name}' has no JPG or PNG frames: it holds ${holds.join(' and ')}. ` +
        'Choose the folder that holds the frames themselves.',
    );
  }
  return inFreshWorker(signal, async (worker) => {
    const frames = await worker.call('folderFrames', { folder: tree.name, names: files, fps, maxFrames });
    return {
      kind: 'frames',
      name: tree.name,
      title: `${tree.name} · ${plural(frames.length, 'frame')} at ${fps} fps`,
      width: null,
      height: null,
      frames,
      groundTruth: [],
      cheapFrames: true,
      frame: fileFrameReader(worker, frames, (i) => tree.file(frames[i].name), tree.name),
      pipelineSource: async () => ({
        kind: 'frames',
        folder: tree.name,
        fps,
        files: (await Promise.all(frames.map((f) => tree.file(f.name)))).filter(Boolean),
      }),
      close: () => worker.terminate(),
    };
  });
}

// ------------------------------------------------------------ nuScenes folder

/** The `v1.0-*` version folders of a dataroot (empty when `tree` is not one). */
export async function nuScenesVersions(tree) {
  const { dirs } = await tree.list('');
  return dirs.filter((d) => NUSCENES_VERSION.test(d));
}

/** Why `tree` is not a nuScenes dataroot, as specifically as its contents allow. */
export async function notNuScenesMessage(tree) {
  const { files, dirs } = await tree.list('');
  if (files.includes('scene.json') && NUSCENES_VERSION.test(tree.name)) {
    return (
      `'${tree.name}' is a nuScenes version folder, not the dataroot: choose the folder above it, ` +
      `the one that holds ${tree.name}/, samples/ and sweeps/.`
    );
  }
  const holds = files.length || dirs.length ? ` (it holds ${sample([...dirs.map((d) => `${d}/`), ...files])})` : '';
  return (
    `'${tree.name}' is not a nuScenes folder: it has no v1.0-* folder of tables${holds}. ` +
    'Choose the dataroot, the folder that holds v1.0-mini/ (or another version), samples/ and sweeps/.'
  );
}

/** A worker shared by a folder and the clips opened from it; the last to let go terminates it. */
class Lease {
  constructor(worker) {
    this.worker = worker;
    this.holders = 1;
  }

  take() {
    this.holders += 1;
    return this;
  }

  release() {
    this.holders -= 1;
    if (this.holders === 0) this.worker.terminate();
  }
}

/**
 * A nuScenes dataroot: its tables loaded in a worker of their own, scenes
 * opened from them, frame images read from the dropped files when shown.
 * The worker lives while the folder (until `close()`) or a clip of it needs it.
 */
export class NuScenesFolder {
  constructor(tree, versions) {
    this.tree = tree;
    this.versions = versions;
    this.lease = null;
    this.version = null;
    this.tables = null; // {scenes, cameras} of the loaded version
    this.tableFiles = null; // {name: File}: the loaded version's table files
  }

  /** Loads `version`'s tables (replacing any loaded before) → {scenes, cameras}. */
  async load(version, { signal, onProgress }) {
    const { files: names } = await this.tree.list(version);
    const files = {};
    for (const name of names.filter((n) => n.endsWith('.json')))
      files[name] = await this.tree.file(`${version}/${name}`);
    const loaded = await inFreshWorker(signal, async (worker) => {
      const tables = await worker.call('nuscenesLoad', { version, files }, { onProgress });
      return { worker, tables };
    }).catch((e) => {
      throw e instanceof CancelledError ? e : new InputError(`nuScenes folder '${this.tree.name}': ${e.message}`);
    });
    this.close();
    this.lease = new Lease(loaded.worker);
    this.version = version;
    this.tables = loaded.tables;
    this.tableFiles = files;
    return loaded.tables;
  }

  /** A scene's clip; if none of its frame images is in the folder, an error. */
  async openScene(scene, channel, maxFrames, { signal, onProgress }) {
    const lease = this.lease.take();
    try {
      const { worker } = lease;
      const view = await unlessAborted(
        worker.call('nuscenesClip', { scene, channel, maxFrames }, { onProgress }),
        signal,
      );
      onProgress({ text: `finding the ${plural(view.frames.length, 'frame image')} in ${this.tree.name}…` });
      const files = await unlessAborted(Promise.all(view.frames.map((f) => this.tree.file(f.name))), signal);
      const unavailable = view.frames.flatMap((f, i) =>
        files[i] ? [] : [[i, `${f.name} is not in the folder '${this.tree.name}'`]],
      );
      if (unavailable.length === view.frames.length) {
        throw new InputError(
          `None of the ${plural(view.frames.length, 'image')} of ${scene} (${channel}) is in '${this.tree.name}' ` +
            `(e.g. ${view.frames[0].name}). Choose the dataroot with samples/ and sweeps/.`,
        );
      }
      const { version, tableFiles } = this;
      const images = Object.fromEntries(view.frames.flatMap((f, i) => (files[i] ? [[f.name, files[i]]] : [])));
      return {
        kind: 'nuscenes',
        name: scene,
        title: `${scene} · ${channel} · ${this.version}`,
        width: view.width,
        height: view.height,
        frames: view.frames,
        groundTruth: view.groundTruth,
        unavailable,
        cheapFrames: true,
        frame: fileFrameReader(worker, view.frames, (i) => files[i], this.tree.name),
        pipelineSource: async () => ({
          kind: 'nuscenes',
          root: this.tree.name,
          version,
          scene,
          channel,
          maxFrames: view.frames.length,
          tables: tableFiles,
          images,
        }),
        close: () => lease.release(),
      };
    } catch (e) {
      lease.release();
      throw e;
    }
  }

  /** Lets go of the loaded tables (clips opened from them keep theirs). */
  close() {
    this.lease?.release();
    this.lease = null;
  }
}
