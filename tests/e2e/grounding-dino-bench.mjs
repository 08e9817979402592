// Grounding DINO in the page, full size (a command, not a test): loads a
// checkpoint directory through the Detect panel's "Files…" picker and detects
// "a cat. a remote control." on the small demo scene's frame 0 (640×360,
// resized to 750×1333 by the processor) RUNS times on the chosen backend (on
// the CPU: the threaded build and the one-thread build, see `benchSetups`);
// then runs the native example (`grounding_dino_bench`, release, Burn flex,
// at 800×1333) on the same weights in the same run. Prints a Markdown table
// for docs/BENCHMARKS.md, with the page's wasm heap (the CPU build's peak memory).
//
//   web/build.sh && node tests/e2e/grounding-dino-bench.mjs [MODEL_DIR] [cpu|webgpu] [RUNS]
//   (MODEL_DIR defaults to ~/.cache/autolabel/grounding-dino-full, written by
//   tests/parity/grounding_dino_full.py)

import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { benchColumn, benchSetups, median, openBenchModel, printTable, runExample, waitPanel } from './harness.mjs';

const MODEL = process.argv[2] ?? join(homedir(), '.cache/autolabel/grounding-dino-full');
const BACKEND = process.argv[3] ?? 'cpu';
const RUNS = Number(process.argv[4] ?? 1);
const PROMPT = 'a cat. a remote control.';
const HOUR = 3_600_000;

async function detect(page) {
  await page.locator('#gd-prompt').fill(PROMPT);
  // The click sets `running` and clears the last result before the worker call.
  await page.locator('#gd-detect').click();
  const s = await waitPanel(page, 'gd', () => !window.__autolabel.gd.running, HOUR);
  if (s.error) throw new Error(s.error);
  return s;
}

async function inPage(setup) {
  const { session, loaded, loadS } = await openBenchModel({ panel: 'gd', modelDir: MODEL, setup, timeout: HOUR });
  try {
    const runs = [];
    let last = null;
    for (let i = 0; i < RUNS; i++) {
      last = await detect(session.page);
      runs.push(last.ms);
    }
    return {
      column: benchColumn(loaded),
      loadS,
      detectS: median(runs) / 1000,
      size: `${last.result.width}×${last.result.height}`,
      heapMiB: last.wasmHeapBytes / 2 ** 20,
    };
  } finally {
    await session.close();
  }
}

const pages = [];
for (const setup of benchSetups(BACKEND)) pages.push(await inPage(setup));
const cpu = runExample('grounding_dino_bench', ['--model', MODEL, '--iters', '1']);
printTable(
  ['stage', ...pages.map((p) => p.column), `native Burn flex (${availableParallelism()} threads)`, 'page ÷ native'],
  [
    [
      `detect (the ${pages[0].size} frame, 750×1333 after the processor; 800×1333 natively)`,
      ...pages.map((p) => `${p.detectS.toFixed(1)} s`),
      `${cpu.detect_s.toFixed(1)} s`,
      pages.map((p) => `${(p.detectS / cpu.detect_s).toFixed(1)}×`).join(' / '),
    ],
    ['load (files → model)', ...pages.map((p) => `${p.loadS.toFixed(1)} s`), '–', ''],
    ['memory', ...pages.map((p) => `wasm heap ${p.heapMiB.toFixed(0)} MiB`), `peak RSS ${cpu.peak_rss_mib.toFixed(0)} MiB`, ''],
  ],
);
