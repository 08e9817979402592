// Browser end-to-end test of the page with the embedded demo scene.
//
//   web/build.sh                       # the wasm must be built first
//   cd tests/e2e && npm ci && npm test # or: node --test tests/e2e/demo.test.mjs
//
// Starts web/serve.py on a free port, drives the system Chromium through
// playwright-core (no browser download), checks the scene loads with 120
// frames, keyframes show their ground-truth boxes and sweeps none, and saves
// screenshots to tests/e2e/artifacts/. Env: CHROMIUM (default /usr/bin/chromium),
// E2E_LOAD_TIMEOUT_MS (default 150000).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = join(ROOT, 'tests/e2e/artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const LOAD_TIMEOUT_MS = Number(process.env.E2E_LOAD_TIMEOUT_MS ?? 150_000);
const FRAME_TIMEOUT_MS = 30_000;

let server;
let context;
let page;
let profile;
const consoleLines = [];

/** Starts web/serve.py on port 0 and resolves with the URL it prints. */
function startServer() {
  return new Promise((resolvePromise, reject) => {
    const proc = spawn('python3', [join(ROOT, 'web/serve.py'), '0', '--quiet'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => reject(new Error('web/serve.py did not start within 10 s')), 10_000);
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/serving (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ proc, url: m[1] });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`web/serve.py exited with ${code}`));
    });
  });
}

const appState = () =>
  page.evaluate(() => {
    const s = window.__autolabel;
    return {
      status: s.status,
      frames: s.frames.length,
      current: s.current,
      displayed: s.displayed,
      drawn: s.drawn,
      renderCount: s.renderCount,
      errors: s.errors,
      timings: s.timings,
      cached: s.cachedFrames(),
    };
  });

/** Waits until frame `index` is on the canvas with its boxes drawn. */
async function waitForFrame(index, timeout = FRAME_TIMEOUT_MS) {
  await page.waitForFunction(
    (i) => {
      const s = window.__autolabel;
      return s.status === 'error' || (s.displayed === i && s.drawn && s.drawn.index === i);
    },
    index,
    { timeout, polling: 100 },
  );
  const s = await appState();
  assert.deepEqual(s.errors, [], 'the page reported errors');
  return s;
}

/** How many ground-truth annotations the worker reported for frame `index` (null for a sweep). */
const reportedGt = (index) =>
  page.evaluate((i) => {
    const s = window.__autolabel;
    const f = s.frames[i];
    if (!f.is_key_frame) return null;
    const gt = s.groundTruth.find((g) => g.image === f.image);
    return gt ? { all: gt.annotations.length, mapped: gt.annotations.filter((a) => a.class !== null).length } : null;
  }, index);

/** Statistics of the canvas pixels: a blank canvas has one colour. */
const canvasStats = () =>
  page.evaluate(() => {
    const c = document.getElementById('view');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let sum = 0;
    let sumSq = 0;
    let n = 0;
    for (let p = 0; p < data.length; p += 4 * 97) {
      const y = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
      sum += y;
      sumSq += y * y;
      n += 1;
      colours.add((data[p] << 16) | (data[p + 1] << 8) | data[p + 2]);
    }
    const mean = sum / n;
    return { width: c.width, height: c.height, colours: colours.size, std: Math.sqrt(sumSq / n - mean * mean) };
  });

/**
 * The canvas colour on the left edge of the nearest box of class `cls` in frame
 * `index`, and the colour the page draws that class with.
 */
const boxEdgePixel = (index, cls) =>
  page.evaluate(
    ({ i, cls }) => {
      const s = window.__autolabel;
      const gt = s.groundTruth.find((g) => g.image === s.frames[i].image);
      const ann = gt.annotations.filter((a) => a.class === cls).sort((a, b) => a.distance_m - b.distance_m)[0];
      const [x0, y0, , y1] = ann.box;
      const { scale, ox, oy } = s.view;
      const x = Math.round(ox + x0 * scale);
      const y = Math.round(oy + ((y0 + y1) / 2) * scale);
      const hex = s.classColors[cls];
      const expected = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
      // The 2 px stroke is centred on a fractional x: take the best of a few pixels across it.
      const px = document.getElementById('view').getContext('2d').getImageData(x - 2, y, 5, 1).data;
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

const screenshot = (name) => page.screenshot({ path: join(ARTIFACTS, name) });

describe('demo scene page', () => {
  before(async () => {
    assert.ok(
      existsSync(join(ROOT, 'web/pkg/autolabel_web_bg.wasm')),
      'web/pkg is missing: build the wasm first with web/build.sh',
    );
    await mkdir(ARTIFACTS, { recursive: true });
    server = await startServer();
    profile = await mkdtemp(join(tmpdir(), 'autolabel-e2e-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless=new',
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
      viewport: { width: 1440, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  });

  after(async () => {
    if (consoleLines.length) console.log(`browser console:\n  ${consoleLines.join('\n  ')}`);
    await context?.close();
    server?.proc.kill();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('serves the page with cross-origin isolation', async () => {
    const response = await page.goto(server.url, { waitUntil: 'domcontentloaded' });
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['cross-origin-opener-policy'], 'same-origin');
    assert.equal(response.headers()['cross-origin-embedder-policy'], 'require-corp');
    assert.equal(await page.evaluate(() => window.crossOriginIsolated), true);
    const wasm = await page.request.get(new URL('web/pkg/autolabel_web_bg.wasm', server.url).href);
    assert.equal(wasm.headers()['content-type'], 'application/wasm');
  });

  it('generates the demo scene in the worker without freezing the page', async () => {
    const started = Date.now();
    await page.waitForFunction(() => window.__autolabel.status === 'loading', null, { timeout: 10_000 });
    // The UI thread stays responsive while the worker generates the scene.
    const t0 = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    assert.ok(Date.now() - t0 < 2_000, 'the page froze while the scene was generating');
    const busy = await page.locator('#busy-text').textContent();
    assert.match(busy, /loading wasm|generating demo scene/);
    await page.waitForFunction(() => ['ready', 'error'].includes(window.__autolabel.status), null, {
      timeout: LOAD_TIMEOUT_MS,
      polling: 250,
    });
    const s = await waitForFrame(0);
    console.log(
      `scene ready after ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
        `wasm init ${s.timings.wasmInitMs.toFixed(0)} ms, generate ${s.timings.generateMs.toFixed(0)} ms, ` +
        `export ${s.timings.exportMs.toFixed(0)} ms, render frame 0 ${s.timings.renders[0].toFixed(0)} ms`,
    );
    assert.equal(s.status, 'ready');
    assert.equal(s.frames, 120);
    assert.equal(await page.locator('#frame-count').textContent(), '120');
  });

  it('shows frame 0 as a keyframe with its ground-truth boxes', async () => {
    const s = await waitForFrame(0);
    const gt = await reportedGt(0);
    assert.ok(gt && gt.all > 0, 'frame 0 should be a keyframe with ground truth');
    assert.equal(s.drawn.boxes, gt.all, 'boxes drawn on frame 0 = annotations reported by the worker');
    assert.equal(await page.locator('#frame-kind').textContent(), 'keyframe');
    assert.equal(await page.locator('#ann-table tbody tr').count(), gt.all);
    const stats = await canvasStats();
    assert.ok(stats.colours > 50 && stats.std > 5, `the canvas looks blank: ${JSON.stringify(stats)}`);
    const edge = await boxEdgePixel(0, 'car');
    assert.ok(edge.off < 40, `no car-coloured box edge on the canvas: ${JSON.stringify(edge)}`);
    await screenshot('frame-000-keyframe.png');
  });

  it('hides ignored categories when toggled off', async () => {
    const gt = await reportedGt(0);
    await page.locator('#show-ignored').uncheck();
    let s = await appState();
    assert.equal(s.drawn.boxes, gt.mapped);
    assert.equal(s.drawn.ignored, 0);
    await page.locator('#show-ignored').check();
    s = await appState();
    assert.equal(s.drawn.boxes, gt.all);
  });

  it('shows a sweep (frame 1) without boxes', async () => {
    await page.keyboard.press('ArrowRight');
    const s = await waitForFrame(1);
    assert.equal(await reportedGt(1), null);
    assert.equal(s.drawn.boxes, 0);
    assert.equal(await page.locator('#frame-kind').textContent(), 'sweep');
    assert.equal(await page.locator('#ann-table tbody tr').count(), 0);
    const stats = await canvasStats();
    assert.ok(stats.colours > 50 && stats.std > 5, `the canvas looks blank: ${JSON.stringify(stats)}`);
    await screenshot('frame-001-sweep.png');
  });

  it('scrubs to frame 6 and shows the next keyframe boxes', async () => {
    await page.locator('#slider').fill('6');
    const s = await waitForFrame(6);
    const gt = await reportedGt(6);
    assert.ok(gt && gt.all > 0, 'frame 6 should be a keyframe with ground truth');
    assert.equal(s.drawn.boxes, gt.all);
    assert.equal(await page.locator('#frame-index').textContent(), '6');
    assert.equal(await page.locator('#frame-kind').textContent(), 'keyframe');
    await screenshot('frame-006-keyframe.png');
  });

  it('serves frames scrubbed back to from the cache', async () => {
    const before = await appState();
    assert.ok(before.cached.includes(0), `frame 0 should be cached: ${before.cached}`);
    await page.keyboard.press('Home');
    const s = await waitForFrame(0, 2_000);
    assert.equal(s.displayed, 0);
    const stats = await canvasStats();
    assert.ok(stats.colours > 50 && stats.std > 5, 'the cached frame looks blank');
    const renders = Object.entries(s.timings.renders).map(([i, ms]) => `${i}: ${ms.toFixed(0)} ms`);
    console.log(`frame renders (incl. prefetches): ${renders.join(', ')}`);
  });
});
