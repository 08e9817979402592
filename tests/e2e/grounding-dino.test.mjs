// The Detect panel, on the wasm CPU build and on WebGPU: the tiny Grounding
// DINO fixture (models/fixtures/grounding-dino-tiny, random weights) loads
// from localhost with its sha256 checked, "Detect" on a photo gives the
// detections the native CLI (`autolabel detect`, Burn's CPU backend) gives for
// the same image, prompt and thresholds — same count and labels, scores and
// boxes within the tolerances below; the tiny OWLv2 fixture the same, each
// class a query. An empty prompt and wrong model files (another model's, a
// truncated one, one holding NaN) give specific messages naming the file and
// leave the clip on screen.
// Screenshots: tests/e2e/artifacts/grounding-dino-*.png.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FIXTURES,
  ROOT,
  appState,
  dropModel,
  expectError,
  findCli,
  openFolder,
  openWithModel,
  screenshot,
  suiteSession,
  tempDir,
  waitPanel,
} from './harness.mjs';

const MODEL = join(ROOT, 'models/fixtures/grounding-dino-tiny');
const OWLV2 = join(ROOT, 'models/fixtures/owlv2-tiny');
const IMAGE_DIR = join(FIXTURES, 'grounding-dino');
const FIXTURE = { panel: 'gd', model: 'grounding-dino-tiny-fixture', images: IMAGE_DIR };

/**
 * The fixture's prompt (cases.json) with thresholds that keep 13 of its 30
 * queries on this image (the nearest score is 0.005 above the box threshold,
 * so a backend's rounding cannot change the count).
 */
const CASE = { prompt: 'a cat. a remote control.', boxThreshold: 0.8, textThreshold: 0.75 };

/**
 * OWLv2's case: three queries, a box threshold that keeps 17 of the image's
 * patches (the nearest score is 0.006 below it, 0.012 above).
 */
const OWLV2_CASE = { prompt: 'a photo of a cat, remote control, traffic light', boxThreshold: 0.76, textThreshold: null };

/**
 * How close the page must come to the native CPU result. The CPU build is the
 * CLI's code compiled for wasm32 (SIMD128 instead of AVX-512, other summation
 * order); WebGPU (SwiftShader here) runs other kernels. Scores are
 * probabilities; boxes are in the 200×134 image's pixels.
 */
const TOLERANCE = { cpu: { score: 1e-4, px: 0.01 }, webgpu: { score: 1e-4, px: 0.01 } };

/** How long one detection may take: WebGPU on SwiftShader is slow. */
const DETECT_TIMEOUT = { cpu: 120_000, webgpu: 900_000 };

/** `autolabel detect`'s report for the test case (`model`: the checkpoint directory). */
function native(opts = CASE, model = MODEL) {
  const args = ['detect', '--model', model, '--image', join(IMAGE_DIR, 'image.png'), '--prompt', opts.prompt];
  args.push('--box-threshold', String(opts.boxThreshold));
  if (opts.textThreshold != null) args.push('--text-threshold', String(opts.textThreshold));
  if (opts.nms != null) args.push('--nms', String(opts.nms));
  return JSON.parse(execFileSync(findCli(), args, { stdio: ['ignore', 'pipe', 'ignore'] }));
}

/** Fills the form and clicks Detect; resolves with the panel state once the run ends. */
async function detect(page, { prompt, boxThreshold, textThreshold, nms }, timeout) {
  await page.locator('#gd-prompt').fill(prompt);
  await page.locator('#gd-nms').fill(nms == null ? '' : String(nms));
  await page.locator('#gd-box-threshold').fill(String(boxThreshold));
  if (textThreshold != null) await page.locator('#gd-text-threshold').fill(String(textThreshold));
  await page.locator('#gd-detect').click();
  await page.waitForFunction(() => window.__autolabel.gd.running, null, { timeout: 10_000, polling: 50 }).catch(() => {});
  return waitPanel(page, 'gd', () => !window.__autolabel.gd.running, timeout);
}

/**
 * Pairs each native detection with the page's of the same label and nearest
 * box (the order of equal-scored queries may differ), checks the tolerances
 * and returns the largest differences.
 */
function compare(page, want, backend, model = 'grounding dino') {
  const tol = TOLERANCE[backend];
  assert.equal(page.prompt, want.prompt, 'normalised prompt');
  assert.deepEqual(page.phrases, want.phrases);
  assert.deepEqual(page.queries, want.queries);
  assert.deepEqual([page.width, page.height], [want.width, want.height]);
  assert.equal(page.detections.length, want.detections.length, 'detection count');
  assert.deepEqual(page.detections.map((d) => d.label).sort(), want.detections.map((d) => d.label).sort(), 'labels');
  const free = [...page.detections];
  let [score, px] = [0, 0];
  for (const w of want.detections) {
    const boxDiff = (d) => Math.max(...d.box.map((v, k) => Math.abs(v - w.box[k])));
    const candidates = free.filter((d) => d.label === w.label).sort((a, b) => boxDiff(a) - boxDiff(b));
    const got = candidates[0];
    free.splice(free.indexOf(got), 1);
    score = Math.max(score, Math.abs(got.score - w.score));
    px = Math.max(px, boxDiff(got));
  }
  console.log(
    `${model} ${backend} vs native CPU: ${want.detections.length} detections, ` +
      `max |Δ score| ${score.toExponential(1)}, max |Δ box| ${px.toExponential(1)} px`,
  );
  assert.ok(score <= tol.score, `max score difference ${score} > ${tol.score}`);
  assert.ok(px <= tol.px, `max box difference ${px} px > ${tol.px}`);
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`Grounding DINO in the page on ${backend}`, () => {
    const suite = suiteSession();

    it('loads the fixture from localhost with its sha256 verified', async () => {
      const { page } = suite;
      const s = await openWithModel(suite.session, { ...FIXTURE, backend });
      assert.equal(s.status, 'ready', `Grounding DINO did not load: ${s.error}`);
      assert.equal(s.info.backend, backend);
      assert.equal(s.info.variant, 'custom');
      assert.equal(s.load.verified, true);
      assert.equal(s.load.source, 'download');
      assert.match(await page.locator('#gd-status').textContent(), /sha256 cdb928b1a73c… verified/);
    });

    it('detects what the native CPU build detects', async () => {
      const { page } = suite;
      const s = await detect(page, CASE, DETECT_TIMEOUT[backend]);
      assert.equal(s.error, null);
      assert.equal(s.result.frame, 0);
      const want = native();
      assert.ok(want.detections.length >= 5, `the case should give several detections, got ${want.detections.length}`);
      compare(s.result, want, backend);
      console.log(`grounding dino ${backend}: detect took ${(s.ms / 1000).toFixed(1)} s in the page`);
      assert.equal(await page.locator('#gd-normalised').textContent(), `read as “${want.prompt}”`);
      assert.equal(await page.locator('#gd-results li').count(), want.detections.length);
      await screenshot(page, `grounding-dino-${backend}.png`);
    });

    if (backend === 'cpu') {
      it('applies the NMS field as `autolabel detect --nms` does', async () => {
        const opts = { ...CASE, nms: 0.3 };
        const s = await detect(suite.page, opts, DETECT_TIMEOUT[backend]);
        assert.equal(s.error, null);
        const want = native(opts);
        assert.ok(want.detections.length < native().detections.length, 'NMS at IoU 0.3 drops a box of this case');
        compare(s.result, want, backend);
      });
    }

    it('names an empty prompt and keeps the clip', async () => {
      const { page } = suite;
      const errors = await page.evaluate(() => window.__autolabel.errors.length);
      const s = await detect(page, { ...CASE, prompt: ' , . ' }, 60_000);
      assert.match(s.error, /empty prompt: give one or more class phrases/);
      assert.equal(s.result, null);
      assert.equal(s.status, 'ready', 'the model stays loaded');
      await expectError(page, errors, /Grounding DINO: empty prompt/);
      await screenshot(page, `grounding-dino-${backend}-empty-prompt.png`);
    });
  });
}

for (const backend of ['cpu', 'webgpu']) {
  describe(`OWLv2 in the Detect panel on ${backend}`, () => {
    const suite = suiteSession();

    it('detects each class as a query, as autolabel detect does', async () => {
      const { page } = suite;
      const s = await openWithModel(suite.session, { ...FIXTURE, model: 'owlv2-tiny-fixture', backend });
      assert.equal(s.status, 'ready', `OWLv2 did not load: ${s.error}`);
      assert.deepEqual([s.info.model_type, s.info.backend], ['owlv2', backend]);
      assert.ok(await page.locator('#gd-text-threshold').isDisabled(), 'OWLv2 has no text threshold');
      const found = await detect(page, OWLV2_CASE, DETECT_TIMEOUT[backend]);
      assert.equal(found.error, null);
      const want = native(OWLV2_CASE, OWLV2);
      assert.equal(want.detections.length, 17);
      compare(found.result, want, backend, 'owlv2');
      assert.equal(await page.locator('#gd-normalised').textContent(), 'queries “a photo of a cat”, “remote control”, “traffic light”');
      await screenshot(page, `owlv2-${backend}.png`);
    });
  });
}

/** NaN bit patterns of the safetensors dtypes a checkpoint may use. */
const NAN_BYTES = { F32: [0x00, 0x00, 0xc0, 0x7f], F16: [0x00, 0x7e], BF16: [0xc0, 0x7f] };

/** `bytes` (a safetensors file) with the first element of its first float tensor set to NaN. */
function withNaN(bytes) {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const [name, tensor] = Object.entries(header).find(([key, t]) => key !== '__metadata__' && NAN_BYTES[t.dtype]);
  const out = Buffer.from(bytes);
  out.set(NAN_BYTES[tensor.dtype], 8 + headerLength + tensor.data_offsets[0]);
  return { bytes: out, name };
}

describe('Grounding DINO bad model files', () => {
  const suite = suiteSession(({ session }) => openFolder(session, 'cpu', IMAGE_DIR));
  let temp;

  before(async () => {
    temp = await tempDir('autolabel-gd-');
  });

  after(() => temp?.cleanup());

  /** Drops `files`, expects `pattern` on screen, and checks the clip stayed. */
  const drop = async (files, pattern) => {
    const clip = (await appState(suite.page)).clip?.name;
    await dropModel(suite.page, 'gd', files, pattern);
    assert.equal((await appState(suite.page)).clip?.name, clip, 'the clip on screen changed');
  };

  /** The fixture with `weights` as its model.safetensors, in a folder of its own. */
  async function checkpoint(name, weights) {
    const dir = join(temp.dir, name);
    await mkdir(dir, { recursive: true });
    await copyFile(join(MODEL, 'config.json'), join(dir, 'config.json'));
    await writeFile(join(dir, 'model.safetensors'), weights);
    return [join(dir, 'config.json'), join(dir, 'model.safetensors')];
  }

  it('names a truncated model.safetensors', async () => {
    const bytes = await readFile(join(MODEL, 'model.safetensors'));
    const files = await checkpoint('truncated', bytes.subarray(0, bytes.length >> 1));
    await drop(files, /model\.safetensors: weights: not a safetensors file/);
  });

  it('names the tensor of a model.safetensors holding NaN', async () => {
    const { bytes, name } = withNaN(await readFile(join(MODEL, 'model.safetensors')));
    const files = await checkpoint('nan', bytes);
    const key = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await drop(files, new RegExp(`model\\.safetensors: .*${key}.*(NaN|not finite)`));
    await screenshot(suite.page, 'grounding-dino-nan-weights.png');
  });

  it('says a checkpoint is two files', async () => {
    await drop([join(MODEL, 'model.safetensors')], /a detector checkpoint is two files, config\.json and model\.safetensors; got model\.safetensors/);
  });

  it("names another model's checkpoint", async () => {
    const sam2 = join(ROOT, 'models/fixtures/sam2-tiny');
    await drop([join(sam2, 'config.json'), join(sam2, 'model.safetensors')], /config\.json: model_type 'sam2' is not a detector: expected 'grounding-dino' or 'owlv2'/);
    await screenshot(suite.page, 'grounding-dino-wrong-files.png');
  });
});
