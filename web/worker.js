// A compute worker: owns one wasm instance and one source (the demo scene or a
// nuScenes dataset) and decodes frame images, so nothing slow runs on the UI
// thread. The page starts one worker per opened source and cancels a long step
// by terminating that worker (web/compute.js), which leaves other sources alone.
//
// Messages in:  {id, op, ...args}
//   demo          {small}                        → ClipView
//   render        {index}                        → ImageBitmap        (demo frames)
//   nuscenesLoad  {version, files: {name: File}}  → {scenes, cameras}   (the version folder's files)
//   nuscenesClip  {scene, channel, maxFrames}    → ClipView
//   folderFrames  {folder, names, fps, maxFrames} → [FrameInfo]
//   videoIndex    {file, maxFrames}              → {width, height, frames: [FrameInfo]} (an MP4 as the core
//                                                  indexes it, or the core's reason it cannot)
//   decode        {file}                         → ImageBitmap        (a JPG/PNG file, decoded by the core:
//                                                  completely, or an error naming the file)
//   sam2Load      {url | files, backend, sha256} → {info, files, loadMs} (SAM 2 weights → model)
//   sam2SetImage  {bitmap}                       → {ms}               (encode a frame)
//   sam2Predict   {prompts, multimask}           → {predictions, ms}  (masks; pixels transferred)
//   gdLoad        {url | files, backend, sha256} → {info, files, loadMs} (Grounding DINO or OWLv2 weights → model)
//   gdDetect      {bitmap, prompt, boxThreshold, textThreshold, nms}
//                                                → {report, ms}       (autolabel detect --prompt's JSON;
//                                                  a null threshold: the model's default)
//   pipeline*     the whole run on one clip: see web/pipeline-ops.js
//   batch*        a set of images to a training ZIP: see web/batch-ops.js
// Messages out: {id, progress: {text, done, total}} · {id, result} · {id, error}
//               {panic}  (a Rust panic's message, from console_error_panic_hook)
//
// Which wasm build it runs (web/build.sh): `worker.js?threads` asks for the
// threaded CPU build (web/pkg-threads), which it gets when the page is
// cross-origin isolated (SharedArrayBuffer); otherwise, and always without
// `?threads`, it runs the default build (web/pkg: one CPU thread, and WebGPU).

import { fetchModelFile, mib, sha256 } from './model-store.js';
import { batchOps } from './batch-ops.js';
import { nuscenesTables, rangeReader } from './page-files.js';
import { pipelineOps } from './pipeline-ops.js';

const BUILDS = {
  default: { dir: './pkg/', threaded: false },
  threads: { dir: './pkg-threads/', threaded: true },
};
const WANTS_THREADS = new URL(self.location.href).searchParams.has('threads');

let ready = null;
let api = null; // the wasm-bindgen module: its classes and functions
let exports = null; // the wasm instance's exports (its linear memory: the CPU build's heap)
let build = null; // {name, threads, note}: the build this worker runs, for the page
let demo = null;
let demoSize = null;
let dataset = null;
// The model sessions this worker can hold, by the prefix of their ops.
const MODELS = {
  sam2: { name: 'SAM 2', sessionClass: 'Sam2Session' },
  gd: { name: 'detector', sessionClass: 'DetectorSession' },
};
const sessions = { sam2: null, gd: null }; // the loaded Sam2Session and DetectorSession (Grounding DINO or OWLv2)
let modelBusy = Promise.resolve(); // model calls run one at a time

/** A result whose listed objects are transferred, not copied, to the page. */
class Transfer {
  constructor(result, objects) {
    this.result = result;
    this.objects = objects;
  }
}

// console_error_panic_hook reports a panic through console.error just before
// the wasm traps: forward it so the page can show the real message.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  consoleError(...args);
  self.postMessage({ panic: args.map(String).join(' ') });
};

const errorMessage = (e) => (e instanceof Error ? e.message : String(e));

/** `dir`'s wasm file, or an error saying how to build it. */
async function wasmUrl(dir) {
  const url = new URL(`${dir}autolabel_web_bg.wasm`, import.meta.url);
  const head = await fetch(url, { method: 'HEAD' }).catch(() => null);
  if (!head || !head.ok) {
    throw new Error(`${url.pathname} is missing (HTTP ${head ? head.status : 'error'}). Build the wasm first: web/build.sh`);
  }
  return url;
}

/** The build to run: threaded when asked for and possible, with why not otherwise. */
function chooseBuild() {
  if (!WANTS_THREADS) return { name: 'default', note: null };
  if (!self.crossOriginIsolated) {
    return {
      name: 'default',
      note: 'one thread: the page is not cross-origin isolated; serve it with web/serve.py for threads',
    };
  }
  return { name: 'threads', note: null };
}

/** Instantiates build `name`; the threaded one also starts its pool. */
async function startBuild(name) {
  const { dir, threaded } = BUILDS[name];
  const url = await wasmUrl(dir);
  const module = await import(new URL(`${dir}autolabel_web.js`, import.meta.url).href);
  const instance = await module.default({ module_or_path: url });
  // Before anything else touches rayon: its pool is built once.
  if (threaded) await module.initThreadPool(navigator.hardwareConcurrency || 1);
  return { module, instance };
}

async function loadWasm() {
  const t0 = performance.now();
  let chosen = chooseBuild();
  let started;
  try {
    started = await startBuild(chosen.name);
  } catch (e) {
    // web/pkg-threads may be missing, or its shared memory of up to 4 GiB refused
    // (a small device): run on one thread.
    if (chosen.name !== 'threads') throw e;
    chosen = { name: 'default', note: `one thread: the threaded build could not start (${errorMessage(e)})` };
    started = await startBuild(chosen.name);
  }
  ({ module: api, instance: exports } = started);
  build = { name: chosen.name, threads: api.cpuThreads(), note: chosen.note };
  return performance.now() - t0;
}

const wasm = () => (ready ??= loadWasm());

const bitmapOfRgba = (rgba, width, height) =>
  createImageBitmap(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height));

/**
 * A JPG/PNG file as an ImageBitmap, decoded by the core's decoder: a
 * truncated or corrupt file is an error naming it and why (the browser's
 * decoder names neither, and may show a cut JPEG's missing rows as grey).
 */
async function decodeImage(file) {
  await wasm();
  const bytes = new Uint8Array(await file.arrayBuffer());
  const { width, height, rgba } = api.decodeImageFile(file.name, bytes);
  return bitmapOfRgba(rgba, width, height);
}

/** Runs `work` after every model call before it (a session is not re-entrant). */
function serial(work) {
  const run = modelBusy.then(work, work);
  modelBusy = run.catch(() => {});
  return run;
}

/**
 * A transformers checkpoint's config.json text and model.safetensors bytes,
 * from a URL directory (cached, sha256-checked) or dropped files.
 */
async function checkpointFiles({ url, files, sha256: expected, half }, progress) {
  if (files) {
    const weights = new Uint8Array(await files.weights.arrayBuffer());
    progress({ text: `checking ${files.weights.name} (sha256 of ${mib(weights.byteLength)})` });
    const digest = await sha256(weights);
    const config = await files.config.text();
    return { config, weights, report: { source: 'files', sha256: digest, bytes: weights.byteLength } };
  }
  const base = new URL(url, self.location.href);
  const get = (name, options = {}) =>
    fetchModelFile(new URL(name, base).href, { expected: expected?.[name] ?? null, progress, ...options });
  const config = await get('config.json');
  const weights = await get('model.safetensors', { half: half ? api.halfPrecisionCopy : null });
  const report = {
    source: weights.fromCache ? 'cache' : 'download',
    sha256: weights.sha256,
    verified: weights.verified && config.verified,
    bytes: weights.bytes.byteLength,
    half: weights.half,
  };
  return { config: new TextDecoder().decode(config.bytes), weights: weights.bytes, report };
}

/**
 * Builds model `key`'s session from a checkpoint (`args`: {url | files,
 * backend, sha256}), replacing the one loaded before.
 */
async function loadSession(key, args, progress) {
  const { name, sessionClass } = MODELS[key];
  progress({ text: 'loading wasm…' });
  await wasm();
  const { config, weights, report } = await checkpointFiles(args, progress);
  progress({ text: `building ${name} on ${args.backend === 'webgpu' ? 'WebGPU' : 'the CPU'}…` });
  return serial(async () => {
    sessions[key]?.free();
    sessions[key] = null;
    const t0 = performance.now();
    sessions[key] = await api[sessionClass].load(config, weights, args.backend);
    return { info: sessions[key].info(), ...report, build, loadMs: performance.now() - t0 };
  });
}

/** Model `key`'s loaded session; an error if there is none. */
function session(key) {
  if (!sessions[key]) throw new Error(`no ${MODELS[key].name} model is loaded`);
  return sessions[key];
}

/** The wasm heap's size: it only grows, so it is the peak of the CPU build's memory. */
const wasmHeap = () => exports?.memory.buffer.byteLength ?? null;

async function rgbaOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height).data;
}

const ops = {
  async demo({ small }, progress) {
    progress({ text: 'loading wasm…' });
    const wasmInitMs = await wasm();
    progress({ text: 'generating the demo scene…' });
    const t0 = performance.now();
    const onKeyframe = (done, total) => progress({ text: 'generating the demo scene: keyframes', done, total });
    demo = small ? api.DemoScene.small(13, 640, 360, onKeyframe) : api.DemoScene.generate(onKeyframe);
    const clip = demo.clip();
    demoSize = { width: clip.width, height: clip.height };
    return { clip, timings: { wasmInitMs, generateMs: performance.now() - t0 } };
  },

  async render({ index }) {
    if (!demo) throw new Error('no demo scene in this worker');
    const t0 = performance.now();
    const rgba = demo.render(index);
    const ms = performance.now() - t0;
    const bitmap = await bitmapOfRgba(rgba, demoSize.width, demoSize.height);
    return new Transfer({ bitmap, ms }, [bitmap]);
  },

  // Reads only the table files (a missing one is left for the loader to name).
  async nuscenesLoad({ version, files }, progress) {
    progress({ text: 'loading wasm…' });
    await wasm();
    const collected = await nuscenesTables(api, version, files, progress);
    dataset?.free();
    dataset = null;
    dataset = api.NuScenesDataset.load(collected, version);
    return { scenes: dataset.scenes(), cameras: dataset.cameras() };
  },

  async nuscenesClip({ scene, channel, maxFrames }, progress) {
    if (!dataset) throw new Error('no nuScenes dataset in this worker');
    progress({ text: `projecting the ground truth of ${scene}…` });
    return dataset.clip(scene, channel, maxFrames);
  },

  async folderFrames({ folder, names, fps, maxFrames }) {
    await wasm();
    return api.folderFrames(folder, names, fps, maxFrames);
  },

  async videoIndex({ file, maxFrames }) {
    await wasm();
    return api.videoIndex(file.name, file.size, rangeReader(file), maxFrames);
  },

  sam2Load: (args, progress) => loadSession('sam2', args, progress),

  async sam2SetImage({ bitmap }) {
    const sam2 = session('sam2');
    const { width, height } = bitmap;
    const rgba = await rgbaOf(bitmap);
    return serial(async () => {
      const t0 = performance.now();
      await sam2.setImage(new Uint8Array(rgba.buffer), width, height);
      return { ms: performance.now() - t0, width, height, wasmHeapBytes: wasmHeap() };
    });
  },

  async sam2Predict({ prompts, multimask }) {
    const sam2 = session('sam2');
    return serial(async () => {
      const t0 = performance.now();
      const predictions = await sam2.predict(prompts, multimask);
      const ms = performance.now() - t0;
      const buffers = predictions.flatMap((p) => p.masks.map((m) => m.data.buffer));
      return new Transfer({ predictions, ms, wasmHeapBytes: wasmHeap() }, buffers);
    });
  },

  gdLoad: (args, progress) => loadSession('gd', args, progress),

  async gdDetect({ bitmap, prompt, boxThreshold, textThreshold, nms }) {
    const gd = session('gd');
    const { width, height } = bitmap;
    const rgba = await rgbaOf(bitmap);
    return serial(async () => {
      const t0 = performance.now();
      const report = await gd.detect(
        new Uint8Array(rgba.buffer), width, height, prompt, boxThreshold ?? undefined, textThreshold ?? undefined, nms ?? undefined,
      );
      return { report, ms: performance.now() - t0, wasmHeapBytes: wasmHeap() };
    });
  },

  async decode({ file }) {
    const t0 = performance.now();
    const bitmap = await decodeImage(file);
    return new Transfer({ bitmap, ms: performance.now() - t0 }, [bitmap]);
  },
};

const opsDeps = {
  wasm,
  api: () => api,
  checkpointFiles,
  serial,
  transfer: (result, objects) => new Transfer(result, objects),
};
Object.assign(ops, pipelineOps(opsDeps), batchOps(opsDeps));

self.onmessage = async ({ data: { id, op, ...args } }) => {
  const progress = (p) => self.postMessage({ id, progress: p });
  try {
    if (!ops[op]) throw new Error(`unknown operation '${op}'`);
    const out = await ops[op](args, progress);
    if (out instanceof Transfer) self.postMessage({ id, result: out.result }, out.objects);
    else self.postMessage({ id, result: out });
  } catch (e) {
    self.postMessage({ id, error: errorMessage(e) });
  }
};
