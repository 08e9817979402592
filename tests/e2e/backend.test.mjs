// The backend panel (WebGPU adapter and limits, CPU build, cross-origin
// isolation, OPFS, WebCodecs), the backend switch, the degraded page when
// those APIs are missing, and cancelling a long step.
// Screenshots: tests/e2e/artifacts/backend-*.png.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ARTIFACTS, FIXTURES, appState, openSession, screenshot, waitForFrame, waitIdle } from './harness.mjs';

/** Each capability's shown value and note, by key. */
const capabilities = (page) =>
  page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('#capabilities dd')].map((dd) => [
        dd.dataset.capability,
        { ok: dd.classList.contains('ok'), text: dd.textContent },
      ]),
    ),
  );

const waitForPanel = (page) =>
  page.waitForFunction(() => window.__autolabel.backend !== null, null, { timeout: 20_000 });

describe('backend panel', () => {
  let session;
  let page;

  before(async () => {
    session = await openSession();
    page = session.page;
    await page.goto(session.url(), { waitUntil: 'domcontentloaded' });
    await waitForPanel(page);
  });

  after(() => session?.close());

  it('names the WebGPU adapter with its key limits and says threads are possible', async () => {
    const caps = await capabilities(page);
    assert.ok(caps.webgpu.ok, `WebGPU: ${caps.webgpu.text}`);
    assert.match(caps.webgpu.text, /max buffer \d[\d,]* MiB · storage binding \d[\d,]* MiB/);
    assert.match(caps.webgpu.text, /shader-f16 (yes|no)/);
    assert.ok(caps.isolation.ok);
    assert.match(caps.isolation.text, /yes — threads possible/);
    assert.match(caps.cpu.text, /wasm SIMD, up to \d+ threads/);
    assert.ok(caps.opfs.ok, caps.opfs.text);
    assert.ok(caps.webcodecs.ok, caps.webcodecs.text);
    const s = await page.evaluate(() => window.__autolabel.backend);
    assert.equal(s, 'webgpu');
    assert.match(
      await page.locator('#backend-choice').textContent(),
      /^Models will run on WebGPU on .+\.$/,
    );
    await page.locator('#backend').screenshot({ path: join(ARTIFACTS, 'backend-panel.png') });
  });

  it('switches to the CPU build and remembers the choice', async () => {
    await page.locator('label:has(#backend-cpu)').click();
    assert.match(await page.locator('#backend-choice').textContent(), /the CPU build \(wasm SIMD, \d+ threads\)/);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await waitForPanel(page);
    assert.equal(await page.evaluate(() => window.__autolabel.backend), 'cpu');
    await page.locator('label:has(#backend-webgpu)').click();
  });

  it('cancels a long step and keeps the clip on screen', async () => {
    await page.locator('#pick-video').setInputFiles(join(FIXTURES, 'tiny.mp4'));
    await waitIdle(page);
    await waitForFrame(page, 0);
    await page.locator('#demo').click();
    await page.waitForFunction(() => window.__autolabel.status === 'loading', null, { timeout: 5_000 });
    await page.locator('#task-cancel').click();
    const s = await waitIdle(page, 5_000);
    assert.equal(s.task, null);
    assert.deepEqual(s.errors, []);
    assert.equal(s.clip.name, 'tiny.mp4');
    assert.equal(await page.locator('#task').isVisible(), false);
    await page.keyboard.press('ArrowRight');
    await waitForFrame(page, 1);
  });
});

describe('degraded browser: no WebGPU, OPFS, WebCodecs or isolation', () => {
  let session;
  let page;

  before(async () => {
    session = await openSession({
      initScript: () => {
        delete Navigator.prototype.gpu;
        delete StorageManager.prototype.getDirectory;
        delete globalThis.VideoDecoder;
        delete globalThis.VideoFrame;
        Object.defineProperty(globalThis, 'crossOriginIsolated', { value: false });
      },
    });
    page = session.page;
    await page.goto(session.url(), { waitUntil: 'domcontentloaded' });
    await waitForPanel(page);
  });

  after(() => session?.close());

  it('says what each missing API means and falls back to the CPU build', async () => {
    const caps = await capabilities(page);
    assert.equal(caps.webgpu.ok, false);
    assert.match(
      caps.webgpu.text,
      /this browser has no WebGPU \(navigator\.gpu is missing\)\. Models will run on the CPU build\./,
    );
    assert.match(caps.isolation.text, /the CPU build runs on one thread; serve the page with web\/serve\.py/);
    assert.match(caps.opfs.text, /Model weights will be cached in Cache Storage instead/);
    assert.match(
      caps.webcodecs.text,
      /videos still open .* one cut short after its header cannot be told from a whole one/,
    );
    assert.equal(await page.evaluate(() => window.__autolabel.backend), 'cpu');
    assert.equal(await page.locator('#backend-webgpu').isDisabled(), true);
    assert.match(await page.locator('#backend-choice').textContent(), /the CPU build \(wasm SIMD, one thread\)/);
    await screenshot(page, 'backend-degraded.png');
  });

  it('still opens a video without WebCodecs', async () => {
    await page.locator('#pick-video').setInputFiles(join(FIXTURES, 'tiny.mp4'));
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.equal(s.frames, 20);
    await waitForFrame(page, 0);
    assert.equal((await appState(page)).clip.kind, 'video');
  });
});
