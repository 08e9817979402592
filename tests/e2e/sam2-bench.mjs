// SAM 2 in the page, full size (a command, not a test): loads a checkpoint
// directory through the page's "Files…" picker, encodes the small demo
// scene's frame 0 (640×360, resized to 1024² by the model) and decodes a
// dragged box RUNS times, on the chosen backend (on the CPU: the threaded
// build and the one-thread build, see `benchSetups`); then runs the native
// example (`sam2_bench`, release, Burn flex) on the same weights in the same
// run, ROUNDS times alternating (this machine's speed drifts), medians of the
// rounds. Prints a Markdown table for docs/BENCHMARKS.md.
//
//   web/build.sh && node tests/e2e/sam2-bench.mjs [MODEL_DIR] [cpu|webgpu] [RUNS] [ROUNDS]
//   (MODEL_DIR defaults to ~/.cache/autolabel/sam2-full, written by tests/parity/sam2_full.py)

import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { benchColumn, benchSetups, clientPoint, median, medians, openBenchModel, printTable, runExample, waitForFrame, waitPanel } from './harness.mjs';

const MODEL = process.argv[2] ?? join(homedir(), '.cache/autolabel/sam2-full');
const BACKEND = process.argv[3] ?? 'cpu';
const RUNS = Number(process.argv[4] ?? 3);
const ROUNDS = Number(process.argv[5] ?? 1);

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

async function inPage(setup) {
  const { session, loaded, loadS } = await openBenchModel({ panel: 'sam2', modelDir: MODEL, setup, timeout: 600_000 });
  try {
    const { page } = session;
    await page.locator('#sam2-test').check();
    const decodes = [];
    let first = null;
    for (let i = 0; i < RUNS; i++) {
      const s = await dragBox(page, [100 + 10 * i, 80, 300, 260]);
      first ??= s;
      if (i > 0 || RUNS === 1) decodes.push(s.decodeMs);
    }
    // The next frame: encoded again, by code the engine has optimised by now.
    await page.keyboard.press('ArrowRight');
    await waitForFrame(page, 1);
    const next = await dragBox(page, [100, 80, 300, 260]);
    return {
      column: benchColumn(loaded),
      loadS,
      encoderS: first.encoded.ms / 1000,
      nextEncoderS: next.encoded.ms / 1000,
      decoderS: median(decodes) / 1000,
      heapMiB: first.wasmHeapBytes / 2 ** 20,
    };
  } finally {
    await session.close();
  }
}

const setups = benchSetups(BACKEND);
const rounds = { pages: setups.map(() => []), native: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, setup] of setups.entries()) rounds.pages[i].push(await inPage(setup));
  rounds.native.push(runExample('sam2_bench', ['--model', MODEL, '--iters', '1']));
}
const pages = rounds.pages.map(medians);
const cpu = medians(rounds.native);
const ratios = (pick, native) => pages.map((p) => `${(pick(p) / native).toFixed(1)}×`).join(' / ');
printTable(
  ['stage', ...pages.map((p) => p.column), `native Burn flex (${availableParallelism()} threads)`, 'page ÷ native'],
  [
    ['image encoder, 1024², first frame', ...pages.map((p) => `${p.encoderS.toFixed(2)} s`), `${cpu.encoder_s.toFixed(2)} s`, ratios((p) => p.encoderS, cpu.encoder_s)],
    [
      'image encoder, 1024², next frame',
      ...pages.map((p) => `${p.nextEncoderS.toFixed(2)} s`),
      `${cpu.encoder_s.toFixed(2)} s`,
      ratios((p) => p.nextEncoderS, cpu.encoder_s),
    ],
    [
      'decoder, 1 box (+ masks to 640×360)',
      ...pages.map((p) => `${p.decoderS.toFixed(3)} s`),
      `${cpu.decoder_1_box_s.toFixed(3)} s (1024²)`,
      ratios((p) => p.decoderS, cpu.decoder_1_box_s),
    ],
    ['load (files → model)', ...pages.map((p) => `${p.loadS.toFixed(1)} s`), `${cpu.load_s.toFixed(1)} s`, ''],
    ['memory', ...pages.map((p) => `wasm heap ${p.heapMiB.toFixed(0)} MiB`), `peak RSS ${cpu.peak_rss_mib.toFixed(0)} MiB`, ''],
  ],
);
