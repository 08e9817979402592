// Grounding DINO in the page, full size (a command, not a test): loads a
// checkpoint directory through the Detect panel's "Files…" picker and detects
// "a cat. a remote control." on the small demo scene's frame 0 (640×360,
// resized to 750×1333 by the processor) RUNS times on the chosen backend; then
// runs the native example (`grounding_dino_bench`, release, Burn flex, at
// 800×1333) on the same weights in the same run. Prints a Markdown table for
// docs/BENCHMARKS.md, with the page's wasm heap (the CPU build's peak memory).
//
//   web/build.sh && node tests/e2e/grounding-dino-bench.mjs [MODEL_DIR] [cpu|webgpu] [RUNS]
//   (MODEL_DIR defaults to ~/.cache/autolabel/grounding-dino-full, written by
//   tests/parity/grounding_dino_full.py)

import { homedir } from 'node:os';
import { join } from 'node:path';
import { openOn, openSession, runExample, waitForFrame, waitPanel } from './harness.mjs';

const MODEL = process.argv[2] ?? join(homedir(), '.cache/autolabel/grounding-dino-full');
const BACKEND = process.argv[3] ?? 'cpu';
const RUNS = Number(process.argv[4] ?? 1);
const PROMPT = 'a cat. a remote control.';
const HOUR = 3_600_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function detect(page) {
  await page.locator('#gd-prompt').fill(PROMPT);
  // The click sets `running` and clears the last result before the worker call.
  await page.locator('#gd-detect').click();
  const s = await waitPanel(page, 'gd', () => !window.__autolabel.gd.running, HOUR);
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
    await page.locator('#pick-gd').setInputFiles([join(MODEL, 'config.json'), join(MODEL, 'model.safetensors')]);
    const loaded = await waitPanel(page, 'gd', () => ['ready', 'error'].includes(window.__autolabel.gd.status), HOUR);
    if (loaded.status !== 'ready') throw new Error(loaded.error);
    const loadS = (Date.now() - t0) / 1000;
    const runs = [];
    let last = null;
    for (let i = 0; i < RUNS; i++) {
      last = await detect(page);
      runs.push(last.ms);
    }
    return {
      backend: loaded.info.backend,
      loadS,
      detectS: median(runs) / 1000,
      size: `${last.result.width}×${last.result.height}`,
      heapMiB: last.wasmHeapBytes / 2 ** 20,
    };
  } finally {
    await session.close();
  }
}


const page = await inPage();
const cpu = runExample('grounding_dino_bench', ['--model', MODEL, '--iters', '1']);
const where = page.backend === 'webgpu' ? 'page, WebGPU (SwiftShader)' : 'page, wasm CPU build (SIMD, 1 thread)';
console.log(`| stage | ${where} | native Burn flex (2 threads) | page ÷ native |`);
console.log('|---|---|---|---|');
console.log(
  `| detect (frame ${page.size} in the page, 800×1333 natively) | ${page.detectS.toFixed(1)} s | ${cpu.detect_s.toFixed(1)} s | ` +
    `${(page.detectS / cpu.detect_s).toFixed(1)}× |`,
);
console.log(`| load (files → model) | ${page.loadS.toFixed(1)} s | – | |`);
console.log(`| memory | wasm heap ${page.heapMiB.toFixed(0)} MiB | peak RSS ${cpu.peak_rss_mib.toFixed(0)} MiB | |`);
