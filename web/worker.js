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
//   decode        {file}                         → ImageBitmap        (any image file)
// Messages out: {id, progress: {text, done, total}} · {id, result} · {id, error}
//               {panic}  (a Rust panic's message, from console_error_panic_hook)

import init, {
  DemoScene,
  NuScenesDataset,
  NuScenesFiles,
  folderFrames,
  nuscenesTableNames,
} from './pkg/autolabel_web.js';

const WASM_URL = new URL('./pkg/autolabel_web_bg.wasm', import.meta.url);

let ready = null;
let demo = null;
let demoSize = null;
let dataset = null;

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

async function loadWasm() {
  const head = await fetch(WASM_URL, { method: 'HEAD' }).catch(() => null);
  if (!head || !head.ok) {
    throw new Error(
      `${WASM_URL.pathname} is missing (HTTP ${head ? head.status : 'error'}). Build the wasm first: web/build.sh`,
    );
  }
  const t0 = performance.now();
  await init({ module_or_path: WASM_URL });
  return performance.now() - t0;
}

const wasm = () => (ready ??= loadWasm());

const bitmapOfRgba = (rgba, width, height) =>
  createImageBitmap(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), width, height));

async function decodeImage(file) {
  try {
    return await createImageBitmap(file);
  } catch (e) {
    throw new Error(`${file.name}: the browser cannot decode this image (${errorMessage(e)})`);
  }
}

const ops = {
  async demo({ small }, progress) {
    progress({ text: 'loading wasm…' });
    const wasmInitMs = await wasm();
    progress({ text: 'generating the demo scene…' });
    const t0 = performance.now();
    const onKeyframe = (done, total) => progress({ text: 'generating the demo scene: keyframes', done, total });
    demo = small ? DemoScene.small(13, 640, 360, onKeyframe) : DemoScene.generate(onKeyframe);
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
    const tables = nuscenesTableNames()
      .map((table) => files[`${table}.json`])
      .filter(Boolean);
    const collected = new NuScenesFiles();
    const total = tables.reduce((sum, file) => sum + file.size, 0);
    let done = 0;
    for (const file of tables) {
      progress({ text: `reading ${version}/${file.name}`, done, total });
      collected.insert(`${version}/${file.name}`, new Uint8Array(await file.arrayBuffer()));
      done += file.size;
    }
    progress({ text: `checking the ${version} tables…`, done, total });
    dataset?.free();
    dataset = null;
    dataset = NuScenesDataset.load(collected, version);
    return { scenes: dataset.scenes(), cameras: dataset.cameras() };
  },

  async nuscenesClip({ scene, channel, maxFrames }, progress) {
    if (!dataset) throw new Error('no nuScenes dataset in this worker');
    progress({ text: `projecting the ground truth of ${scene}…` });
    return dataset.clip(scene, channel, maxFrames);
  },

  async folderFrames({ folder, names, fps, maxFrames }) {
    await wasm();
    return folderFrames(folder, names, fps, maxFrames);
  },

  async decode({ file }) {
    const t0 = performance.now();
    const bitmap = await decodeImage(file);
    return new Transfer({ bitmap, ms: performance.now() - t0 }, [bitmap]);
  },
};

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
