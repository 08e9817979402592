// Every way in: a video file (picker and drop; an H.264 MP4 has the core's
// frames, every frame of the file, whatever the fps option; a WebM is sampled
// by the browser at the fps option), a folder of frames, a nuScenes
// folder, and each bad input — which must give a visible, specific message and
// leave the clip on screen as it was. Fixtures: tests/e2e/fixtures/ (see its
// README); the nuScenes folder is written at test time by the `autolabel demo`
// CLI (AUTOLABEL_CLI, else the newer of $CARGO_TARGET_DIR/{release,debug}/autolabel, else
// built on the spot).
// Screenshots: tests/e2e/artifacts/inputs-*.png.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FIXTURES,
  ROOT,
  appState,
  canvasStats,
  findCli,
  centrePixel,
  notices,
  openSession,
  screenshot,
  tempDir,
  waitForFrame,
  waitIdle,
} from './harness.mjs';

const SCENE_FRAMES = 13;

let session;
let page;
let temp;
let cliGt; // the CLI's ground truth for the generated nuScenes scene

/** Writes the test's input folders under `temp.dir`. */
async function writeInputs() {
  const dir = temp.dir;
  const cli = findCli();
  const nuscenes = join(dir, 'nuscenes');
  execFileSync(cli, ['demo', '--out', nuscenes, '--frames', String(SCENE_FRAMES)], { stdio: 'ignore' });
  cliGt = JSON.parse(
    execFileSync(cli, ['gt', '--nuscenes', nuscenes, '--scene', 'scene-demo'], { maxBuffer: 1 << 26 }),
  );

  const broken = join(dir, 'nuscenes-broken');
  await cp(join(nuscenes, 'v1.0-mini'), join(broken, 'v1.0-mini'), { recursive: true });
  await rm(join(broken, 'v1.0-mini/sample_data.json'));

  const noSweeps = join(dir, 'nuscenes-no-sweeps');
  await cp(nuscenes, noSweeps, { recursive: true });
  await rm(join(noSweeps, 'sweeps'), { recursive: true });

  const noImages = join(dir, 'no-images');
  await mkdir(join(noImages, 'sub'), { recursive: true });
  await writeFile(join(noImages, 'notes.txt'), 'no frames here\n');
  await writeFile(join(noImages, 'sub/readme.md'), '# nested\n');

  // Whole demo-scene JPEGs around one cut in half (Chromium's own decoder
  // says only "The source image could not be decoded").
  const truncated = join(dir, 'truncated-frames');
  await mkdir(truncated);
  const samples = join(nuscenes, 'samples/CAM_FRONT');
  const jpegs = (await readdir(samples)).sort();
  await copyFile(join(samples, jpegs[0]), join(truncated, 'frame_1.jpg'));
  const cut = await readFile(join(samples, jpegs[1]));
  await writeFile(join(truncated, 'frame_2.jpg'), cut.subarray(0, cut.length >> 1));
  await copyFile(join(samples, jpegs[2]), join(truncated, 'frame_3.jpg'));

  const corrupt = join(dir, 'corrupt-frames');
  await mkdir(corrupt);
  await copyFile(join(FIXTURES, 'frames/frame_1.png'), join(corrupt, 'frame_1.png'));
  await writeFile(join(corrupt, 'frame_2.png'), 'not a PNG\n');

  await mkdir(join(dir, 'empty'));
  await writeFile(join(dir, 'notes.txt'), 'not a video\n');
  const mp4 = await readFile(join(FIXTURES, 'tiny.mp4'));
  // moov first (faststart): cutting the tail leaves a header promising frames that are gone.
  await writeFile(join(dir, 'truncated-tail.mp4'), mp4.subarray(0, Math.floor(mp4.length * 0.6)));
  await writeFile(join(dir, 'truncated-head.mp4'), mp4.subarray(0, 400));
  const long = await readFile(join(FIXTURES, 'long.mp4'));
  await writeFile(join(dir, 'truncated-half.mp4'), long.subarray(0, Math.floor(long.length / 2)));
  await copyFile(join(FIXTURES, 'tiny.mp4'), join(dir, 'tiny.mp4'));
}

const path = (name) => join(temp.dir, name);

/** The fixtures' frames encode their index in red: video 20 + 10 n, PNGs 20 + 15 n. */
async function assertRed(expected, what) {
  const [r] = await centrePixel(page);
  assert.ok(Math.abs(r - expected) <= 6, `${what}: centre red ${r}, expected ${expected}`);
}

/** Asserts the clip named `name` is still on screen and scrubbable, with the error shown. */
async function assertKept(name, errorPattern) {
  const s = await waitIdle(page);
  assert.equal(s.clip?.name, name, 'the clip on screen changed');
  assert.equal(s.errors.length, 1, `one error expected: ${JSON.stringify(s.errors)}`);
  assert.match(s.errors[0], errorPattern);
  const shown = await notices(page);
  assert.deepEqual(shown.errors, s.errors, 'the error is visible on the page');
  const next = s.current + 1 < s.frames ? s.current + 1 : s.current - 1;
  await page.keyboard.press(next > s.current ? 'ArrowRight' : 'ArrowLeft');
  await waitForFrame(page, next);
  const [, , , alpha] = await centrePixel(page);
  assert.equal(alpha, 255, 'the frame is drawn');
}

const pickVideo = (file) => page.locator('#pick-video').setInputFiles(file);
const pickFrames = (dir, options) => page.locator('#pick-frames').setInputFiles(dir, options);
const pickNuScenes = (dir) => page.locator('#pick-nuscenes').setInputFiles(dir);

/** Drops `name` from the fixtures on the page as a synthetic file drop. */
async function dropFixture(name, type) {
  const bytes = [...(await readFile(join(FIXTURES, name)))];
  await page.evaluate(
    ({ bytes, name, type }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    },
    { bytes, name, type },
  );
}

/**
 * Drops a folder on the page. Headless Chromium cannot drop a real directory
 * (CDP drops give entries that fail to read), so the drop carries stand-ins
 * for the FileSystem entry API over `files` ({name: [bytes] | nested folder}).
 */
async function dropFolder(name, files) {
  await page.evaluate(
    ({ name, files }) => {
      const fileEntry = (entryName, file) => ({
        name: entryName,
        isFile: true,
        isDirectory: false,
        file: (ok) => ok(file),
      });
      const dirEntry = (dirName, tree) => {
        const child = (n) => {
          const v = tree[n];
          return Array.isArray(v) ? fileEntry(n, new File([new Uint8Array(v)], n)) : dirEntry(n, v);
        };
        const resolvePath = (path) =>
          path.split('/').reduce((e, part) => e && e.isDirectory && e.children[part] && e.children[part](), self);
        const self = {
          name: dirName,
          isFile: false,
          isDirectory: true,
          children: Object.fromEntries(Object.keys(tree).map((n) => [n, () => child(n)])),
          createReader: () => {
            let done = false;
            return {
              readEntries: (ok) => {
                const batch = done ? [] : Object.keys(tree).map(child);
                done = true;
                setTimeout(() => ok(batch));
              },
            };
          },
          getFile: (path, _options, ok, fail) => {
            const e = resolvePath(path);
            setTimeout(() => (e && e.isFile ? ok(e) : fail(new DOMException('not found', 'NotFoundError'))));
          },
          getDirectory: (path, _options, ok, fail) => {
            const e = resolvePath(path);
            setTimeout(() => (e && e.isDirectory ? ok(e) : fail(new DOMException('not found', 'NotFoundError'))));
          },
        };
        return self;
      };
      const root = dirEntry(name, files);
      const transfer = {
        types: ['Files'],
        files: [],
        items: [{ kind: 'file', webkitGetAsEntry: () => root }],
      };
      const drop = new Event('drop', { bubbles: true, cancelable: true });
      Object.defineProperty(drop, 'dataTransfer', { value: transfer });
      document.dispatchEvent(drop);
    },
    { name, files },
  );
}

describe('inputs', () => {
  before(async () => {
    temp = await tempDir('autolabel-inputs-');
    await writeInputs();
    session = await openSession();
    page = session.page;
    await page.goto(session.url(), { waitUntil: 'domcontentloaded' });
  });

  after(async () => {
    await session?.close();
    await temp?.cleanup();
  });

  it('says a dropped empty folder is empty and keeps the landing page', async () => {
    await dropFolder('empty-drop', {});
    await page.waitForFunction(() => window.__autolabel.errors.length > 0, null, { timeout: 10_000 });
    const s = await appState(page);
    assert.equal(s.clip, null);
    assert.deepEqual(s.errors, ["The folder 'empty-drop' is empty."]);
    assert.deepEqual((await notices(page)).errors, s.errors);
    assert.ok(await page.locator('#placeholder').isVisible());
  });

  it('says when the folder picker gives nothing (Chromium passes an empty folder on as a cancel)', async () => {
    // Chromium fires `cancel`, not `change`, for an empty folder: setInputFiles waits in vain.
    // Chromium 156.0.8078.114 (Debian) fires neither for a folder the driver sets, so the
    // picker's `cancel` is sent by hand when the browser sent nothing.
    await pickFrames(path('empty'), { timeout: 2_000 }).catch(() => {});
    await page.evaluate(
      () => window.__autolabel.warnings.length > 0 || document.getElementById('pick-frames').dispatchEvent(new Event('cancel')),
    );
    await page.waitForFunction(() => window.__autolabel.warnings.length > 0, null, { timeout: 5_000 });
    const s = await appState(page);
    assert.match(s.warnings[0], /the picker was cancelled, or the chosen folder is empty/);
    assert.equal(s.clip, null);
  });

  it('opens an MP4 from the picker: 20 frames at 10 fps, each the right one', async () => {
    await pickVideo(path('tiny.mp4'));
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.equal(s.clip.kind, 'video');
    assert.equal(s.frames, 20);
    assert.deepEqual([s.clip.width, s.clip.height], [160, 90]);
    await waitForFrame(page, 0);
    await assertRed(20, 'frame 0');
    await page.locator('#slider').fill('13');
    await waitForFrame(page, 13);
    await assertRed(150, 'frame 13');
    await page.keyboard.press('End');
    await waitForFrame(page, 19);
    await assertRed(210, 'frame 19');
    await page.locator('#slider').fill('7');
    await waitForFrame(page, 7);
    await assertRed(90, 'frame 7');
    assert.equal(await page.locator('#frame-kind').textContent(), 'frame');
    await page.waitForFunction(() => document.querySelectorAll('#strip .thumb.filled').length === 16, null, {
      timeout: 20_000,
    });
    await screenshot(page, 'inputs-video-mp4.png');
  });

  it('rejects a file that is not a video and keeps the clip', async () => {
    await pickVideo(path('notes.txt'));
    await assertKept('tiny.mp4', /'notes\.txt' is not a video \(text\/plain\)/);
    await screenshot(page, 'inputs-error-not-a-video.png');
  });

  it('rejects an MP4 cut short after its header and keeps the clip', async () => {
    await pickVideo(path('truncated-tail.mp4'));
    await assertKept('tiny.mp4', /'truncated-tail\.mp4' is truncated or damaged: its (video data|frame at)/);
    await screenshot(page, 'inputs-error-truncated-mp4.png');
  });

  it('rejects an MP4 whose second half is missing (caught by the frames own timestamps)', async () => {
    await pickVideo(path('truncated-half.mp4'));
    await assertKept(
      'tiny.mp4',
      /'truncated-half\.mp4' is truncated or damaged: its frame at 9\.90 s \(of 10\.00 s\) does not decode \(no frame decodes at 9\.90 s/,
    );
  });

  it('rejects an MP4 cut inside its header and keeps the clip', async () => {
    await pickVideo(path('truncated-head.mp4'));
    await assertKept('tiny.mp4', /'truncated-head\.mp4' (cannot be opened as a video|is truncated)/);
  });

  it('keeps an MP4\'s own frames when the fps option changes: frame i is autolabel run --clip\'s', async () => {
    await page.locator('.options summary').click();
    await page.locator('#opt-fps').fill('5');
    await page.locator('#opt-fps').blur();
    await page.locator('.options summary').click();
    await page.waitForTimeout(300); // the clip reopens with the new options
    const s = await waitIdle(page);
    assert.equal(s.frames, 20, 'every frame of the file, as the core indexes it');
    const names = await page.evaluate(() => window.__autolabel.frames.map((f) => f.name));
    assert.equal(names[7], 'tiny.mp4#7');
    await page.locator('#slider').fill('13');
    await waitForFrame(page, 13);
    await assertRed(150, 'frame 13');
  });

  it('opens a dropped WebM file', async () => {
    await dropFixture('tiny.webm', 'video/webm');
    await page.waitForFunction(() => window.__autolabel.clip?.name === 'tiny.webm' || window.__autolabel.errors.length);
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.equal(s.frames, 10, 'a WebM is sampled by the browser at the fps option (5)');
    await page.locator('#slider').fill('3');
    await waitForFrame(page, 3);
    await assertRed(80, 'frame 3 at 5 fps = source frame 6');
    await page.locator('.options summary').click();
    await page.locator('#opt-fps').fill('10');
    await page.locator('#opt-fps').blur();
    await page.waitForFunction(() => window.__autolabel.frames.length === 20, null, { timeout: 20_000 });
    await page.locator('.options summary').click();
    await page.locator('#slider').fill('11');
    await waitForFrame(page, 11);
    await assertRed(130, 'webm frame 11');
  });

  it('opens a MOV file', async () => {
    await pickVideo(join(FIXTURES, 'tiny.mov'));
    await page.waitForFunction(() => window.__autolabel.clip?.name === 'tiny.mov' || window.__autolabel.errors.length);
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.equal(s.frames, 20);
    await page.locator('#slider').fill('4');
    await waitForFrame(page, 4);
    await assertRed(60, 'mov frame 4');
  });

  it('opens a folder of frames in natural name order', async () => {
    await pickFrames(join(FIXTURES, 'frames'));
    await page.waitForFunction(() => window.__autolabel.clip?.kind === 'frames' || window.__autolabel.errors.length);
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.equal(s.frames, 12, 'notes.txt is not a frame');
    const names = await page.evaluate(() => window.__autolabel.frames.map((f) => f.name));
    assert.deepEqual(
      names,
      Array.from({ length: 12 }, (_, i) => `frame_${i + 1}.png`),
    );
    await waitForFrame(page, 0);
    await assertRed(20, 'frame_1.png');
    await page.locator('#slider').fill('9');
    const s9 = await waitForFrame(page, 9);
    assert.equal(s9.drawn.boxes, 0);
    await assertRed(155, 'frame_10.png');
    assert.equal(await page.locator('#frame-image').textContent(), 'frame_10.png');
    assert.match(await page.locator('#gt-summary').textContent(), /no ground truth/);
    await screenshot(page, 'inputs-frames-folder.png');
  });

  it('opens a dropped folder of frames (read through the entry API)', async () => {
    const files = {};
    for (const i of [1, 2, 10, 11])
      files[`frame_${i}.png`] = [...(await readFile(join(FIXTURES, `frames/frame_${i}.png`)))];
    await dropFolder('dropped-frames', files);
    await page.waitForFunction(
      () => window.__autolabel.clip?.name === 'dropped-frames' || window.__autolabel.errors.length,
    );
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    const names = await page.evaluate(() => window.__autolabel.frames.map((f) => f.name));
    assert.deepEqual(names, ['frame_1.png', 'frame_2.png', 'frame_10.png', 'frame_11.png']);
    await page.locator('#slider').fill('2');
    await waitForFrame(page, 2);
    await assertRed(155, 'frame_10.png');
  });

  it('says what a folder without images holds and keeps the clip', async () => {
    await pickFrames(path('no-images'));
    await assertKept(
      'dropped-frames',
      /'no-images' has no JPG or PNG frames: it holds 1 file \(notes\.txt\) and 1 subfolder \(sub\)/,
    );
  });

  it('shows which frame of a folder does not decode, and why', async () => {
    await pickFrames(path('corrupt-frames'));
    await page.waitForFunction(
      () => window.__autolabel.clip?.name === 'corrupt-frames' || window.__autolabel.errors.length,
    );
    await waitForFrame(page, 0);
    await assertRed(20, 'frame_1.png');
    await page.keyboard.press('ArrowRight');
    const s = await waitForFrame(page, 1);
    assert.equal(s.clip.name, 'corrupt-frames');
    assert.equal(s.errors.length, 1);
    assert.match(s.errors[0], /^frame 1 \(frame_2\.png\): frame_2\.png: cannot decode image: /);
    assert.ok(await page.locator('#frame-failed').isVisible());
    assert.equal(await page.locator('#frame-failed').textContent(), s.errors[0]);
    await page.keyboard.press('ArrowLeft');
    await waitForFrame(page, 0);
    assert.equal(await page.locator('#frame-failed').isVisible(), false);
  });

  it('names a truncated JPEG frame and why, and keeps the clip', async () => {
    await pickFrames(path('truncated-frames'));
    await page.waitForFunction(
      () => window.__autolabel.clip?.name === 'truncated-frames' || window.__autolabel.errors.length > 1,
    );
    const first = await waitForFrame(page, 0);
    const errorsBefore = first.errors.length;
    assert.ok((await canvasStats(page)).std > 5, 'frame_1.jpg is drawn');
    await page.keyboard.press('ArrowRight');
    const s = await waitForFrame(page, 1);
    assert.equal(s.clip.name, 'truncated-frames', 'the clip stays on screen');
    assert.equal(s.errors.length, errorsBefore + 1);
    assert.match(s.errors.at(-1), /^frame 1 \(frame_2\.jpg\): frame_2\.jpg: cannot decode image: JPEG is truncated: no end-of-image marker/);
    assert.ok(await page.locator('#frame-failed').isVisible(), 'the message is on the frame');
    assert.equal(await page.locator('#frame-failed').textContent(), s.errors.at(-1));
    assert.deepEqual((await notices(page)).errors.at(-1), s.errors.at(-1), 'and in a notice');
    await screenshot(page, 'inputs-truncated-frame.png');
    await page.keyboard.press('ArrowRight');
    await waitForFrame(page, 2);
    assert.equal(await page.locator('#frame-failed').isVisible(), false);
    const [, , , alpha] = await centrePixel(page);
    assert.equal(alpha, 255, 'frame_3.jpg is drawn');
  });

  it('opens a nuScenes folder: picks the scene, projects GT in wasm like the CLI', async () => {
    const picked = Date.now();
    await pickNuScenes(path('nuscenes'));
    const dialog = page.locator('#nuscenes-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.locator('#ns-open').waitFor({ state: 'visible' });
    await page.waitForFunction(() => !document.getElementById('ns-open').disabled, null, { timeout: 30_000 });
    assert.equal(await page.locator('#ns-version').inputValue(), 'v1.0-mini');
    assert.equal(await page.locator('#ns-scene').inputValue(), 'scene-demo');
    assert.equal(await page.locator('#ns-camera').inputValue(), 'CAM_FRONT');
    const loaded = Date.now();
    await screenshot(page, 'inputs-nuscenes-dialog.png');
    const opening = Date.now();
    await page.locator('#ns-open').click();
    await page.waitForFunction(() => window.__autolabel.clip?.kind === 'nuscenes' || window.__autolabel.errors.length);
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.deepEqual(s.warnings, []);
    assert.equal(s.frames, SCENE_FRAMES);
    const pageGt = await page.evaluate(() => window.__autolabel.groundTruth);
    assert.equal(pageGt.length, cliGt.length);
    for (const [k, gt] of cliGt.entries()) {
      assert.equal(pageGt[k].image, gt.image);
      assert.deepEqual(
        pageGt[k].annotations.map((a) => [a.annotation_token, a.class, a.box]),
        gt.annotations.map((a) => [a.annotation_token, a.class, a.box]),
        `keyframe ${k}: the page's boxes equal the CLI's`,
      );
    }
    const s0 = await waitForFrame(page, 0, 20_000);
    console.log(
      `nuScenes folder: tables loaded ${loaded - picked} ms after the pick; ` +
        `scene opened and frame 0 drawn ${Date.now() - opening} ms after Open (frame 0 decoded in ${s0.timings.renders[0].toFixed(0)} ms)`,
    );
    assert.equal(s0.drawn.boxes, cliGt[0].annotations.length);
    const stats = await canvasStats(page);
    assert.ok(stats.colours > 50 && stats.std > 5, `the canvas looks blank: ${JSON.stringify(stats)}`);
    await page.locator('#slider').fill('6');
    const s6 = await waitForFrame(page, 6);
    assert.equal(s6.drawn.boxes, cliGt[1].annotations.length);
    assert.equal(await page.locator('#strip .thumb.current').getAttribute('data-index'), '6');
    assert.equal(await page.locator('#frame-kind').textContent(), 'keyframe');
    await screenshot(page, 'inputs-nuscenes-frame-006.png');
  });

  it('reopens the scene picker from the clip without reloading the tables', async () => {
    await page.locator('#change-scene').click();
    await page.locator('#nuscenes-dialog').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#ns-open').isDisabled(), false, 'the tables are still loaded');
    await page.locator('#ns-cancel').click();
    assert.equal(await page.locator('#nuscenes-dialog').isVisible(), false);
    assert.equal((await appState(page)).frames, SCENE_FRAMES, 'cancel keeps the clip');
    await page.locator('#change-scene').click();
    await page.locator('#ns-max-frames').fill('7');
    await page.locator('#ns-open').click();
    await page.waitForFunction(() => window.__autolabel.frames.length === 7, null, { timeout: 20_000 });
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    await waitForFrame(page, 0);
  });

  it('names the missing table of a broken nuScenes folder and keeps the clip', async () => {
    await pickNuScenes(path('nuscenes-broken'));
    await page.waitForFunction(() => window.__autolabel.errors.length > 0, null, { timeout: 30_000 });
    assert.equal(await page.locator('#nuscenes-dialog').isVisible(), false);
    await assertKept(
      'scene-demo',
      /nuScenes folder 'nuscenes-broken': table 'sample_data' is missing: v1\.0-mini\/sample_data\.json/,
    );
    await screenshot(page, 'inputs-error-nuscenes-missing-table.png');
  });

  it('says a frames folder is not a nuScenes folder', async () => {
    await pickNuScenes(join(FIXTURES, 'frames'));
    await assertKept('scene-demo', /'frames' is not a nuScenes folder: it has no v1\.0-\* folder of tables/);
  });

  it('opens a nuScenes folder without sweeps/, warning about the missing frames', async () => {
    await pickNuScenes(path('nuscenes-no-sweeps'));
    await page.waitForFunction(() => !document.getElementById('ns-open').disabled, null, { timeout: 30_000 });
    await page.locator('#ns-open').click();
    await page.waitForFunction(() => window.__autolabel.warnings.length || window.__autolabel.errors.length);
    const s = await waitIdle(page);
    assert.deepEqual(s.errors, []);
    assert.match(
      s.warnings[0],
      /^10 of 13 frame images of scene-demo are not in 'nuscenes-no-sweeps' \(e\.g\. sweeps\/CAM_FRONT\//,
    );
    await page.keyboard.press('ArrowRight');
    await waitForFrame(page, 1);
    assert.ok(await page.locator('#frame-failed').isVisible(), 'the missing frame says so on the stage');
    assert.match(await page.locator('#frame-failed').textContent(), /is not in the folder 'nuscenes-no-sweeps'/);
  });
});
