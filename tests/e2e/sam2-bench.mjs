// SAM 2 in the page, full size (a command, not a test): loads a checkpoint
// directory through the page's "Files…" picker, encodes the small demo
// scene's frame 0 (640×360, resized to 1024² by the model) and decodes a
// dragged box RUNS times, on the chosen backend; then runs the native example
// (`sam2_bench`, release, Burn flex) on the same weights in the same run.
// Prints a Markdown table for docs/BENCHMARKS.md.
//
//   web/build.sh && node tests/e2e/sam2-bench.mjs [MODEL_DIR] [cpu|webgpu] [RUNS]
//   (MODEL_DIR defaults to ~/.cache/autolabel/sam2-full, written by tests/parity/sam2_full.py)

import { homedir } from 'node:os';
import { join } from 'node:path';
import { clientPoint, openOn, openSession, runExample, waitForFrame, waitPanel } from './harness.mjs';

const MODEL = process.argv[2] ?? join(homedir(), '.cache/autolabel/sam2-full');
const BACKEND = process.argv[3] ?? 'cpu';
const RUNS = Number(process.argv[4] ?? 3);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function dragBox(page, [x0, y0, x1, y1]) {
  const [a, b] = [await clientPoint(page, x0, y0), await clientPoint(page, x1, y1)];
  await page.evaluate(() => {
    window.__autolabel.sam2.predictions = null;
  });
  await page.mouse.move(...a);
  await page.mouse.down();
  await page.mouse.move(...b, { steps: 4 });
  await page.mouse.up();
  const s = await waitPanel(page, 'sam2', () => window.__autolabel.sam2.predictions || window.__autolabel.sam2.error, 3_600_000);
  if (s.error) throw new Error(s.error);
  return s;
}

async function inPage() {
  const session = await openSession();
  try {
    const { page } = session;
    await openOn(session, BACKEND, '?demo=small');
    await waitForFrame(page, 0, 120_000);
    const t0 = Date.now();
    await page.locator('#pick-sam2').setInputFiles([join(MODEL, 'config.json'), join(MODEL, 'model.safetensors')]);
    const loaded = await waitPanel(page, 'sam2', () => ['ready', 'error'].includes(window.__autolabel.sam2.status), 600_000);
    if (loaded.status !== 'ready') throw new Error(loaded.error);
    const loadS = (Date.now() - t0) / 1000;
    await page.locator('#sam2-test').check();
    const decodes = [];
    let first = null;
    for (let i = 0; i < RUNS; i++) {
      const s = await dragBox(page, [100 + 10 * i, 80, 300, 260]);
      first ??= s;
      if (i > 0 || RUNS === 1) decodes.push(s.decodeMs);
    }
    return {
      backend: loaded.info.backend,
      loadS,
      encoderS: first.encoded.ms / 1000,
      decoderS: median(decodes) / 1000,
      heapMiB: first.wasmHeapBytes / 2 ** 20,
    };
  } finally {
    await session.close();
  }
}


const page = await inPage();
const cpu = runExample('sam2_bench', ['--model', MODEL, '--iters', '1']);
const where = page.backend === 'webgpu' ? 'page, WebGPU (SwiftShader)' : 'page, wasm CPU build (SIMD, 1 thread)';
console.log(`| stage | ${where} | native Burn flex (2 threads) | page ÷ native |`);
console.log('|---|---|---|---|');
console.log(`| image encoder, 1024² | ${page.encoderS.toFixed(2)} s | ${cpu.encoder_s.toFixed(2)} s | ${(page.encoderS / cpu.encoder_s).toFixed(1)}× |`);
console.log(`| decoder, 1 box (+ masks to 640×360) | ${page.decoderS.toFixed(3)} s | ${cpu.decoder_1_box_s.toFixed(3)} s (1024²) | ${(page.decoderS / cpu.decoder_1_box_s).toFixed(1)}× |`);
console.log(`| load (files → model) | ${page.loadS.toFixed(1)} s | ${cpu.load_s.toFixed(1)} s | |`);
console.log(`| memory | wasm heap ${page.heapMiB.toFixed(0)} MiB | peak RSS ${cpu.peak_rss_mib.toFixed(0)} MiB | |`);
