// The page with the embedded demo scene: it opens in a worker without
// freezing the page, keyframes show their ground-truth boxes in the class
// colours, sweeps none, and scrubbed-back frames come from the cache.
// Screenshots: tests/e2e/artifacts/demo-*.png.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appState, canvasStats, openSession, screenshot, waitForFrame } from './harness.mjs';

const LOAD_TIMEOUT_MS = Number(process.env.E2E_LOAD_TIMEOUT_MS ?? 150_000);

let session;
let page;

/** How many ground-truth annotations the worker reported for frame `index` (null for a sweep). */
const reportedGt = (index) =>
  page.evaluate((i) => {
    const s = window.__autolabel;
    const f = s.frames[i];
    if (!f.is_key_frame) return null;
    const gt = s.groundTruth.find((g) => g.image === f.name);
    return gt ? { all: gt.annotations.length, mapped: gt.annotations.filter((a) => a.class !== null).length } : null;
  }, index);

/**
 * The canvas colour on the left edge of the nearest box of class `cls` in frame
 * `index`, and the colour the page draws that class with.
 */
const boxEdgePixel = (index, cls) =>
  page.evaluate(
    ({ i, cls }) => {
      const s = window.__autolabel;
      const gt = s.groundTruth.find((g) => g.image === s.frames[i].name);
      const ann = gt.annotations.filter((a) => a.class === cls).sort((a, b) => a.distance_m - b.distance_m)[0];
      const [x0, y0, , y1] = ann.box;
      const { scale, ox, oy } = s.view;
      const x = Math.round(ox + x0 * scale);
      const y = Math.round(oy + ((y0 + y1) / 2) * scale);
      const hex = s.classColors[cls];
      const expected = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
      // The 2 px stroke is centred on a fractional x: take the best of a few pixels across it.
      const px = document
        .getElementById('view')
        .getContext('2d')
        .getImageData(x - 2, y, 5, 1).data;
      let best = null;
      for (let k = 0; k < 5; k += 1) {
        const p = [px[4 * k], px[4 * k + 1], px[4 * k + 2]];
        const off = Math.max(...p.map((v, c) => Math.abs(v - expected[c])));
        if (!best || off < best.off) best = { pixel: p, off };
      }
      return { ...best, expected, at: [x, y] };
    },
    { i: index, cls },
  );

const assertNotBlank = async () => {
  const stats = await canvasStats(page);
  assert.ok(stats.colours > 50 && stats.std > 5, `the canvas looks blank: ${JSON.stringify(stats)}`);
};

describe('demo scene', () => {
  before(async () => {
    session = await openSession();
    page = session.page;
  });

  after(() => session?.close());

  it('serves the page with cross-origin isolation', async () => {
    const response = await page.goto(session.url(), { waitUntil: 'domcontentloaded' });
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['cross-origin-opener-policy'], 'same-origin');
    assert.equal(response.headers()['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true);
    const wasm = await page.request.get(session.url('web/pkg/autolabel_web_bg.wasm'));
    assert.equal(wasm.headers()['content-type'], 'application/wasm');
  });

  it('opens the demo scene in a worker, one click away, without freezing the page', async () => {
    const started = Date.now();
    await page.locator('#demo').click();
    await page.waitForFunction(() => window.__autolabel.status === 'loading', null, { timeout: 10_000 });
    // The UI thread stays responsive while the worker generates the scene.
    const t0 = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    assert.ok(Date.now() - t0 < 2_000, 'the page froze while the scene was generating');
    // The task's own label until the worker's first progress message replaces it.
    assert.match(
      await page.locator('#task-text').textContent(),
      /opening the demo scene|loading wasm|generating the demo scene/,
    );
    assert.ok(await page.locator('#task-cancel').isVisible(), 'a long step offers Cancel');
    await page.waitForFunction(() => window.__autolabel.clip !== null || window.__autolabel.errors.length, null, {
      timeout: LOAD_TIMEOUT_MS,
      polling: 250,
    });
    const s = await waitForFrame(page, 0);
    assert.deepEqual(s.errors, []);
    console.log(
      `scene ready after ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
        `wasm init ${s.timings.wasmInitMs.toFixed(0)} ms, generate ${s.timings.generateMs.toFixed(0)} ms, ` +
        `render frame 0 ${s.timings.renders[0].toFixed(0)} ms`,
    );
    assert.equal(s.clip.kind, 'demo');
    assert.equal(s.frames, 120);
    assert.equal(await page.locator('#frame-count').textContent(), '120');
    assert.equal(await page.locator('#placeholder').isVisible(), false);
  });

  it('shows frame 0 as a keyframe with its ground-truth boxes', async () => {
    const s = await waitForFrame(page, 0);
    const gt = await reportedGt(0);
    assert.ok(gt && gt.all > 0, 'frame 0 should be a keyframe with ground truth');
    assert.equal(s.drawn.boxes, gt.all, 'boxes drawn on frame 0 = annotations reported by the worker');
    assert.equal(await page.locator('#frame-kind').textContent(), 'keyframe');
    assert.equal(await page.locator('#ann-table tbody tr').count(), gt.all);
    await assertNotBlank();
    const edge = await boxEdgePixel(0, 'car');
    assert.ok(edge.off < 40, `no car-coloured box edge on the canvas: ${JSON.stringify(edge)}`);
    await screenshot(page, 'demo-frame-000-keyframe.png');
  });

  it('hides ignored categories when toggled off', async () => {
    const gt = await reportedGt(0);
    await page.locator('#show-ignored').uncheck();
    let s = await appState(page);
    assert.equal(s.drawn.boxes, gt.mapped);
    assert.equal(s.drawn.ignored, 0);
    await page.locator('#show-ignored').check();
    s = await appState(page);
    assert.equal(s.drawn.boxes, gt.all);
  });

  it('shows a sweep (frame 1) without boxes', async () => {
    await page.keyboard.press('ArrowRight');
    const s = await waitForFrame(page, 1);
    assert.equal(await reportedGt(1), null);
    assert.equal(s.drawn.boxes, 0);
    assert.equal(await page.locator('#frame-kind').textContent(), 'sweep');
    assert.equal(await page.locator('#ann-table tbody tr').count(), 0);
    await assertNotBlank();
  });

  it('scrubs to frame 6 and shows the next keyframe boxes', async () => {
    await page.locator('#slider').fill('6');
    const s = await waitForFrame(page, 6);
    const gt = await reportedGt(6);
    assert.ok(gt && gt.all > 0, 'frame 6 should be a keyframe with ground truth');
    assert.equal(s.drawn.boxes, gt.all);
    assert.equal(await page.locator('#frame-index').textContent(), '6');
    assert.equal(await page.locator('#frame-kind').textContent(), 'keyframe');
    await screenshot(page, 'demo-frame-006-keyframe.png');
  });

  it('serves frames scrubbed back to from the cache', async () => {
    const before = await appState(page);
    assert.ok(before.cached.includes(0), `frame 0 should be cached: ${before.cached}`);
    await page.keyboard.press('Home');
    const s = await waitForFrame(page, 0, 2_000);
    assert.equal(s.displayed, 0);
    await assertNotBlank();
    const renders = Object.entries(s.timings.renders).map(([i, ms]) => `${i}: ${ms.toFixed(0)} ms`);
    console.log(`frame renders (incl. prefetches): ${renders.join(', ')}`);
  });

  it('jumps to a frame from the strip', async () => {
    const thumbs = page.locator('#strip .thumb');
    assert.equal(await thumbs.count(), 16);
    await thumbs.last().click();
    const s = await waitForFrame(page, 119);
    assert.equal(s.current, 119);
    assert.ok(await thumbs.last().evaluate((b) => b.classList.contains('current') && b.classList.contains('filled')));
  });
});
