// SAM 2 in the page, on the threaded wasm CPU build, on the one-thread build a
// plain static server gets, and on WebGPU: the tiny fixture model
// (models/fixtures/sam2-tiny, random weights) loads from localhost with its
// sha256 checked, a box dragged on the frame and then a point clicked give
// the masks and scores the native CLI (`autolabel segment`, Burn's CPU
// backend) gives for the very same prompts, and the next visit loads the
// model from the browser cache. Bad model files (truncated, the
// wrong shapes, a lone file) give specific messages and leave the clip alone.
// Screenshots: tests/e2e/artifacts/sam2-*.png.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIXTURES, ROOT, clientPoint, dropModel, findCli, openFolder, openWithModel, screenshot, suiteSession, tempDir, waitPanel } from './harness.mjs';

const MODEL = join(ROOT, 'models/fixtures/sam2-tiny');
const IMAGE_DIR = join(FIXTURES, 'sam2');
const FIXTURE = { panel: 'sam2', model: 'sam2-tiny-fixture', images: IMAGE_DIR };

/**
 * How close the page must come to the native CPU result: the CPU build is
 * the same code as the CLI, compiled for wasm32 (SIMD128 instead of AVX);
 * WebGPU (SwiftShader here) runs other kernels with another summation order,
 * so its scores may differ in the last digits and a pixel on a mask's edge
 * may flip. The f16 cache copy holds the weights rounded to f16: on this
 * fixture its IoU scores move by ≤ 2.6e-4 and ≤ 0.06 % of mask pixels flip
 * (tests/integration/sam2.rs, sam2_half_precision_copy_loads_and_stays_close).
 */
const TOLERANCE = { cpu: { score: 1e-4, iou: 0.999 }, webgpu: { score: 1e-4, iou: 0.999 }, f16: { score: 1e-3, iou: 0.99 } };

/** COCO compressed RLE counts → run lengths (pycocotools' rleFrString). */
function decodeCounts(s) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Pixel IoU of two COCO RLEs of the same size. */
function rleIou(a, b) {
  assert.deepEqual(a.size, b.size, 'mask sizes');
  const n = a.size[0] * a.size[1];
  const bits = (rle) => {
    const out = new Uint8Array(n);
    let at = 0;
    decodeCounts(rle.counts).forEach((run, i) => {
      if (i % 2) out.fill(1, at, at + run);
      at += run;
    });
    return out;
  };
  const [x, y] = [bits(a), bits(b)];
  let inter = 0;
  let union = 0;
  for (let i = 0; i < n; i++) {
    inter += x[i] & y[i];
    union += x[i] | y[i];
  }
  return union === 0 ? 1 : inter / union;
}

/** The CLI's answer for one prompt set. */
function native(prompt) {
  const args = ['segment', '--model', MODEL, '--image', join(IMAGE_DIR, 'image.png')];
  if (prompt.box) args.push('--box', prompt.box.join(','));
  for (const p of prompt.points) args.push('--point', p.join(','));
  const out = JSON.parse(execFileSync(findCli(), args, { stdio: ['ignore', 'pipe', 'ignore'] }));
  return out.results[0];
}

const predicted = (page) => waitPanel(page, 'sam2', () => window.__autolabel.sam2.predictions !== null);

/** Turns on test prompts, drags a box over the fixture image's object and waits for its masks. */
async function dragBox(page) {
  await page.locator('#sam2-test').check();
  const [x0, y0] = await clientPoint(page, 72, 19);
  const [x1, y1] = await clientPoint(page, 128, 62);
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  await page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, { steps: 3 });
  await page.mouse.move(x1, y1, { steps: 3 });
  await page.mouse.up();
  return predicted(page);
}

function assertClose(page, native, backend) {
  const tol = TOLERANCE[backend];
  assert.equal(page.masks.length, native.masks.length, 'mask count');
  let [worstScore, worstIou] = [0, 1];
  page.masks.forEach((m, i) => {
    const want = native.masks[i];
    const diff = Math.abs(m.score - want.score);
    assert.ok(diff <= tol.score, `mask ${i} IoU score ${m.score} vs native ${want.score}`);
    const iou = rleIou(m.rle, want.rle);
    assert.ok(iou >= tol.iou, `mask ${i}: pixel IoU with the native mask ${iou}`);
    [worstScore, worstIou] = [Math.max(worstScore, diff), Math.min(worstIou, iou)];
  });
  console.log(`${backend} vs native CPU: max |Δ IoU score| ${worstScore.toExponential(1)}, min pixel IoU ${worstIou.toFixed(4)}`);
  assert.ok(
    Math.abs(page.object_score - native.object_score) <= tol.score * 10,
    `object score ${page.object_score} vs native ${native.object_score}`,
  );
}

/**
 * Where the page runs SAM 2: the threaded CPU build (web/serve.py's headers
 * make the page cross-origin isolated), the default CPU build on one thread
 * (served as by a plain static server), and WebGPU (the default build).
 */
const RUNS = [
  { name: 'cpu', backend: 'cpu', isolated: true, build: 'threads' },
  { name: 'cpu-not-isolated', backend: 'cpu', isolated: false, build: 'default' },
  { name: 'webgpu', backend: 'webgpu', isolated: true, build: 'default' },
];

/** The load's build is the one `run` expects, and the status line says where the model runs. */
async function assertBuild(page, s, run) {
  assert.equal(s.load.build.name, run.build);
  const status = await page.locator('#sam2-status').textContent();
  if (run.backend === 'webgpu') return assert.match(status, / on WebGPU — /);
  if (run.build === 'default') {
    assert.equal(s.load.build.threads, 1);
    return assert.match(status, / on the CPU \(one thread: the page is not cross-origin isolated; serve it with web\/serve\.py for threads\) — /);
  }
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(s.load.build.threads, cores, 'one pool thread per core');
  assert.match(status, cores > 1 ? new RegExp(` on the CPU \\(${cores} threads\\) — `) : / on the CPU \(one thread\) — /);
}

for (const run of RUNS) {
  const { backend } = run;
  describe(`SAM 2 in the page on ${run.name}`, () => {
    const suite = suiteSession(null, { isolated: run.isolated });

    it(`loads the fixture from localhost with its sha256 verified, on the ${run.build} build`, async () => {
      const { page } = suite;
      const s = await openWithModel(suite.session, { ...FIXTURE, backend });
      assert.equal(s.status, 'ready', `SAM 2 did not load: ${s.error}`);
      assert.equal(s.info.backend, backend);
      await assertBuild(page, s, run);
      assert.equal(s.info.image_size, 128);
      assert.equal(s.load.verified, true);
      assert.equal(s.load.source, 'download');
      assert.match(await page.locator('#sam2-status').textContent(), /sha256 44a5d791f596… verified/);
    });

    it('segments a dragged box, then box + point, as the native CPU build does', async () => {
      const { page } = suite;
      let s = await dragBox(page);
      assert.equal(s.error, null);
      assert.equal(s.encoded.frame, 0);
      assert.deepEqual([s.encoded.width, s.encoded.height], [160, 96]);
      assert.ok(s.prompt.box, 'the drag made a box');
      assertClose(s.predictions[0], native(s.prompt), backend);
      await screenshot(page, `sam2-${run.name}-box.png`);

      const [px, py] = await clientPoint(page, 96, 38);
      await page.evaluate(() => {
        window.__autolabel.sam2.predictions = null;
      });
      await page.mouse.click(px, py);
      s = await predicted(page);
      assert.equal(s.prompt.points.length, 1);
      assert.equal(s.prompt.points[0][2], 1, 'a plain click is an object point');
      assertClose(s.predictions[0], native(s.prompt), backend);
      const masks = await page.locator('#sam2-results li').count();
      assert.equal(masks, 2, 'one mask row and the object score');
      await screenshot(page, `sam2-${run.name}-box-point.png`);
    });

    it('loads from the browser cache on the next visit', async () => {
      const { page, session } = suite;
      await page.goto(session.url(`?sam2=${FIXTURE.model}`), { waitUntil: 'domcontentloaded' });
      await page.waitForFunction(() => /in this browser's cache/.test(document.getElementById('sam2-status').textContent), null, {
        timeout: 20_000,
      });
      const s = await openWithModel(session, { ...FIXTURE, backend });
      assert.equal(s.status, 'ready', `SAM 2 did not load: ${s.error}`);
      assert.equal(s.load.source, 'cache');
      assert.equal(s.load.verified, true);
    });
  });
}

describe('SAM 2 with the f16 cache', () => {
  const suite = suiteSession();

  /** The model files in the browser cache: `[url, bytes]`. */
  const cachedModelFiles = (page) =>
    page.evaluate(async () => {
      const cache = await caches.open('autolabel-models-v1');
      const entries = await Promise.all(
        (await cache.keys()).map(async (r) => [r.url, (await (await cache.match(r)).arrayBuffer()).byteLength]),
      );
      return entries.filter(([url]) => url.includes('model.safetensors'));
    });

  it('keeps only an f16 copy of half the size, and segments close to the published weights', async () => {
    const { page, session } = suite;
    await page.goto(session.url(''), { waitUntil: 'domcontentloaded' });
    await page.evaluate(() => localStorage.setItem('autolabel.sam2.f16-cache', '1'));
    let s = await openWithModel(session, { ...FIXTURE, backend: 'cpu' });
    assert.equal(s.status, 'ready', `SAM 2 did not load: ${s.error}`);
    assert.equal(await page.locator('#sam2-half').isChecked(), true, 'the choice is remembered');
    assert.deepEqual([s.load.source, s.load.half, s.load.verified], ['download', true, true]);
    assert.match(await page.locator('#sam2-status').textContent(), /downloaded \(f16 copy\), sha256 44a5d791f596… verified/);
    const files = await cachedModelFiles(page);
    assert.equal(files.length, 1, `one cached copy: ${files.map(([u]) => u)}`);
    assert.match(files[0][0], /model\.safetensors\?autolabel-precision=f16$/);
    const full = (await readFile(join(MODEL, 'model.safetensors'))).byteLength;
    assert.ok(files[0][1] < 0.55 * full, `the f16 copy is ${files[0][1]} of ${full} bytes`);
    s = await dragBox(page);
    assertClose(s.predictions[0], native(s.prompt), 'f16');
  });

  it('loads the f16 copy on the next visit, and the published file once unticked', async () => {
    const { page, session } = suite;
    let s = await openWithModel(session, { ...FIXTURE, backend: 'cpu' });
    assert.deepEqual([s.status, s.load.source, s.load.half, s.load.verified], ['ready', 'cache', true, true]);
    assert.match(await page.locator('#sam2-status').textContent(), /from the browser cache \(f16 copy\)/);
    await page.locator('#sam2-half').uncheck();
    await page.locator('#sam2-load').click();
    s = await waitPanel(page, 'sam2', () => window.__autolabel.sam2.status === 'ready' && !window.__autolabel.sam2.load.half);
    assert.deepEqual([s.load.source, s.load.half], ['download', false]);
    assert.equal((await cachedModelFiles(page)).length, 2, 'both copies cached now');
  });
});

describe('SAM 2 on the CPU when the threaded build cannot start', () => {
  // A browser may refuse the threaded build's shared memory (up to 4 GiB) on a small device.
  const suite = suiteSession(({ session }) =>
    session.context.route('**/pkg-threads/autolabel_web_bg.wasm', (route) =>
      route.fulfill({ status: 200, contentType: 'application/wasm', body: Buffer.from('not a wasm module') }),
    ),
  );

  it('runs the one-thread build and says why', async () => {
    const { page } = suite;
    const s = await openWithModel(suite.session, { ...FIXTURE, backend: 'cpu' });
    assert.equal(s.status, 'ready', `SAM 2 did not load: ${s.error}`);
    assert.equal(s.load.build.name, 'default');
    assert.equal(s.load.build.threads, 1);
    assert.match(await page.locator('#sam2-status').textContent(), / on the CPU \(one thread: the threaded build could not start \(.+\)\) — /);
  });
});

describe('SAM 2 bad model files', () => {
  const suite = suiteSession(({ session }) => openFolder(session, 'cpu', IMAGE_DIR));
  let temp;

  before(async () => {
    temp = await tempDir('autolabel-sam2-');
  });

  after(() => temp?.cleanup());

  const drop = (files, pattern) => dropModel(suite.page, 'sam2', files, pattern);

  it('names a truncated model.safetensors', async () => {
    const dir = join(temp.dir, 'truncated');
    await mkdir(dir, { recursive: true });
    await copyFile(join(MODEL, 'config.json'), join(dir, 'config.json'));
    const bytes = await readFile(join(MODEL, 'model.safetensors'));
    await writeFile(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length >> 1));
    await drop([join(dir, 'config.json'), join(dir, 'model.safetensors')], /model\.safetensors: weights: not a safetensors file/);
  });

  it('names the key and shapes of weights from another model size', async () => {
    const dir = join(temp.dir, 'wrong');
    await mkdir(dir, { recursive: true });
    const config = JSON.parse(await readFile(join(MODEL, 'config.json'), 'utf8'));
    config.mask_decoder_config.iou_head_hidden_dim = 48;
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    await copyFile(join(MODEL, 'model.safetensors'), join(dir, 'model.safetensors'));
    await drop(
      [join(dir, 'config.json'), join(dir, 'model.safetensors')],
      /mask_decoder\.iou_prediction_head\.proj_in\.weight' expected \[48, 32\], got \[32, 32\]/,
    );
    await screenshot(suite.page, 'sam2-wrong-weights.png');
  });

  it('says a checkpoint is two files', async () => {
    await drop([join(MODEL, 'model.safetensors')], /a SAM 2 checkpoint is two files, config\.json and model\.safetensors; got model\.safetensors/);
  });
});
