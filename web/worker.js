// The page's compute worker: owns the wasm instance and the demo scene, so
// scene generation and frame rendering never block the UI thread.
//
// Messages in:  {type: 'load', small?: boolean}
//               {type: 'render', index}
// Messages out: {type: 'progress', text}
//               {type: 'scene', name, width, height, frames, groundTruth, timings}
//               {type: 'frame', index, bitmap (transferred ImageBitmap), ms}
//               {type: 'error', message, during, index?}
//               {type: 'panic', message}          (a Rust panic's message, from console_error_panic_hook)

import init, { DemoScene } from './pkg/autolabel_web.js';

let scene = null;

// console_error_panic_hook reports a panic through console.error just before
// the wasm traps: forward it so the page can show the real message.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  consoleError(...args);
  self.postMessage({ type: 'panic', message: args.map(String).join(' ') });
};

const errorMessage = (e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

async function load(small) {
  self.postMessage({ type: 'progress', text: 'loading wasm…' });
  const t0 = performance.now();
  await init();
  const t1 = performance.now();
  self.postMessage({ type: 'progress', text: 'generating demo scene…' });
  const progress = (done, total) =>
    self.postMessage({ type: 'progress', text: `generating demo scene: keyframe ${done}/${total}…` });
  scene = small ? DemoScene.small(13, 640, 360, progress) : DemoScene.generate(progress);
  const t2 = performance.now();
  const frames = scene.frames();
  const groundTruth = scene.groundTruth();
  const t3 = performance.now();
  self.postMessage({
    type: 'scene',
    name: scene.name,
    width: scene.width,
    height: scene.height,
    frames,
    groundTruth,
    timings: { wasmInitMs: t1 - t0, generateMs: t2 - t1, exportMs: t3 - t2 },
  });
}

async function render(index) {
  const t0 = performance.now();
  const rgba = scene.render(index);
  const ms = performance.now() - t0;
  const image = new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), scene.width, scene.height);
  const bitmap = await createImageBitmap(image);
  self.postMessage({ type: 'frame', index, bitmap, ms }, [bitmap]);
}

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'load') {
      await load(Boolean(data.small));
    } else if (data.type === 'render') {
      if (!scene) throw new Error('no scene loaded yet');
      await render(data.index);
    } else {
      throw new Error(`unknown message type '${data.type}'`);
    }
  } catch (e) {
    self.postMessage({ type: 'error', during: data.type, index: data.index, message: errorMessage(e) });
  }
};
