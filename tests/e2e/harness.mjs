// Shared by the browser end-to-end tests: the static server, the system
// Chromium driven by playwright-core (no browser download), page probes, and
// the steps the model panels' tests share (open an image folder on a backend,
// load a checkpoint from the model list, drop bad model files).
// Env: CHROMIUM (default /usr/bin/chromium).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = join(ROOT, 'tests/e2e/artifacts');
export const FIXTURES = join(ROOT, 'tests/e2e/fixtures');

/** The seed classes with phrases inside the tiny fixture's vocabulary (as tests/integration/run.rs). */
export const TINY_ONTOLOGY = {
  classes: [
    ['car', 'car'],
    ['truck', 'truck'],
    ['bus', 'bus'],
    ['pedestrian', 'person'],
    ['cyclist', 'rider'],
    ['traffic light', 'traffic light'],
    ['traffic sign', 'sign'],
  ].map(([name, phrase]) => ({ name, phrases: [phrase], box_threshold: 0.3, text_threshold: 0.2 })),
};

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TARGET = process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache/autolabel/target');
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // CHROMIUM_JS_FLAGS: V8 flags for an experiment (docs/BENCHMARKS.md: `--no-liftoff`).
  ...(process.env.CHROMIUM_JS_FLAGS ? [`--js-flags=${process.env.CHROMIUM_JS_FLAGS}`] : []),
];

/**
 * Starts web/serve.py on port 0 and resolves with the URL it prints;
 * `isolated: false` serves without the COOP/COEP headers.
 */
function startServer(isolated) {
  const flags = isolated ? [] : ['--no-isolation'];
  return new Promise((resolvePromise, reject) => {
    const proc = spawn('python3', [join(ROOT, 'web/serve.py'), '0', '--quiet', ...flags], {
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

/**
 * A served page in a fresh Chromium profile. `session.page` is the tab,
 * `session.console` its console lines; `close()` tears everything down.
 * `isolated: false` serves it as a plain static server would (no threads).
 * The page's service worker (web/sw.js) is blocked unless `serviceWorkers:
 * 'allow'`: caching the app shell is the offline test's business, not
 * every test's load.
 */
export async function openSession({ initScript, isolated = true, serviceWorkers = 'block' } = {}) {
  assert.ok(
    existsSync(join(ROOT, 'web/pkg/autolabel_web_bg.wasm')),
    'web/pkg is missing: build the wasm first with web/build.sh',
  );
  await mkdir(ARTIFACTS, { recursive: true });
  const server = await startServer(isolated);
  const profile = await mkdtemp(join(tmpdir(), 'autolabel-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
    serviceWorkers,
  });
  if (initScript) await context.addInitScript(initScript);
  const page = context.pages()[0] ?? (await context.newPage());
  const session = { server, context, page, console: [] };
  page.on('console', (m) => session.console.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => session.console.push(`[pageerror] ${e.message}`));
  session.url = (query = '') => new URL(query, server.url).href;
  session.close = async () => {
    if (process.env.E2E_CONSOLE && session.console.length)
      console.log(`browser console:\n  ${session.console.join('\n  ')}`);
    await context.close();
    server.proc.kill();
    await rm(profile, { recursive: true, force: true });
  };
  return session;
}

/**
 * One session for the enclosing `describe`: opened (with `openSession`'s
 * `options`) before its first test, then `setup(suite)` runs; closed after its
 * last. Tests find it at `suite.session` and its tab at `suite.page`.
 */
export function suiteSession(setup, options) {
  const suite = { session: null, page: null };
  before(async () => {
    suite.session = await openSession(options);
    suite.page = suite.session.page;
    await setup?.(suite);
  });
  after(() => suite.session?.close());
  return suite;
}

/** Goes to the page (with `query`) and picks `backend` once the backend panel is filled. */
export async function openOn(session, backend, query = '') {
  const { page } = session;
  await page.goto(session.url(query), { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.__autolabel.backend !== null, null, { timeout: 20_000 });
  await page.locator(`label:has(#backend-${backend})`).click();
}

/** `openOn`, then opens the image folder `dir` through the picker and waits for its frame 0. */
export async function openFolder(session, backend, dir, query = '') {
  await openOn(session, backend, query);
  await session.page.locator('#pick-frames').setInputFiles(dir);
  return waitForFrame(session.page, 0);
}

/** A copy of model panel `panel`'s test hook (`sam2`, `gd`). */
export const panelState = (page, panel) =>
  page.evaluate((key) => JSON.parse(JSON.stringify(window.__autolabel[key])), panel);

/**
 * Waits until `predicate` holds (run in the page, given `panel`), then
 * returns panel `panel`'s state.
 */
export async function waitPanel(page, panel, predicate, timeout = 120_000) {
  await page.waitForFunction(predicate, panel, { timeout, polling: 100 });
  return panelState(page, panel);
}

/**
 * Opens the image folder `images` on `backend` with `?<panel>=<model>`, loads
 * that checkpoint from the model list and returns the panel's state once it
 * is ready or failed.
 */
export async function openWithModel(session, { panel, model, backend, images }) {
  const { page } = session;
  await openFolder(session, backend, images, `?${panel}=${model}`);
  await page.waitForFunction(([p, m]) => document.getElementById(`${p}-model`).value === m, [panel, model]);
  await page.locator(`#${panel}-load`).click();
  return waitPanel(page, panel, (key) => ['ready', 'error'].includes(window.__autolabel[key].status));
}

/** Client coordinates of image pixel (x, y) on the viewer canvas. */
export const clientPoint = (page, x, y) =>
  page.evaluate(
    ([x, y]) => {
      const { scale, ox, oy } = window.__autolabel.view;
      const view = document.getElementById('view');
      // A tall side bar scrolls the viewer away when a test clicks a control far down it.
      view.scrollIntoView({ block: 'nearest' });
      const rect = view.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      return [rect.left + (ox + x * scale) / dpr, rect.top + (oy + y * scale) / dpr];
    },
    [x, y],
  );

/**
 * Waits for a new error notice, checks it against `pattern` and that the
 * one-frame clip the model tests open is still on screen.
 */
export async function expectError(page, errorsBefore, pattern) {
  await page.waitForFunction((n) => window.__autolabel.errors.length > n, errorsBefore, { timeout: 60_000 });
  const { errors } = await notices(page);
  assert.match(errors.at(-1), pattern);
  const s = await page.evaluate(() => ({ frames: window.__autolabel.frames.length, displayed: window.__autolabel.displayed }));
  assert.deepEqual(s, { frames: 1, displayed: 0 }, 'the clip stays on screen');
}

/** Drops `files` on model panel `panel`'s Files… picker and expects an error matching `pattern`. */
export async function dropModel(page, panel, files, pattern) {
  const errors = await page.evaluate(() => window.__autolabel.errors.length);
  await page.locator(`#pick-${panel}`).setInputFiles(files);
  await expectError(page, errors, pattern);
}

/** The parts of `window.__autolabel` the tests read. */
export const appState = (page) =>
  page.evaluate(() => {
    const s = window.__autolabel;
    return {
      status: s.status,
      clip: s.clip,
      frames: s.frames.length,
      current: s.current,
      displayed: s.displayed,
      drawn: s.drawn,
      renderCount: s.renderCount,
      errors: s.errors,
      warnings: s.warnings,
      task: s.task,
      timings: s.timings,
      cached: s.cachedFrames(),
    };
  });

/** Waits until no long step runs, then returns the state. */
export async function waitIdle(page, timeout = 60_000) {
  await page.waitForFunction(() => window.__autolabel.status !== 'loading', null, { timeout, polling: 100 });
  return appState(page);
}

/** Waits until frame `index` is on the canvas with its boxes drawn (or shown as failed). */
export async function waitForFrame(page, index, timeout = 30_000) {
  await page.waitForFunction(
    (i) => {
      const s = window.__autolabel;
      return s.displayed === i && s.drawn && s.drawn.index === i;
    },
    index,
    { timeout, polling: 100 },
  );
  return appState(page);
}

/** Statistics of the canvas pixels: a blank canvas has one colour. */
export const canvasStats = (page) =>
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

/** The canvas RGBA at the centre of the displayed image (alpha 0: nothing drawn there). */
export const centrePixel = (page) =>
  page.evaluate(() => {
    const c = document.getElementById('view');
    return [...c.getContext('2d').getImageData(Math.floor(c.width / 2), Math.floor(c.height / 2), 1, 1).data];
  });

/** The visible notices' texts, by kind. */
export const notices = (page) =>
  page.evaluate(() => ({
    errors: [...document.querySelectorAll('.notice.error p')].map((p) => p.textContent),
    warnings: [...document.querySelectorAll('.notice.warning p')].map((p) => p.textContent),
  }));

export const screenshot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name) });

/** Fails with how to install it when command-line tool `name` is missing (`.ci/install` installs it). */
export function requireTool(name, install) {
  let found = true;
  try {
    execFileSync(name, ['-version'], { stdio: 'ignore' });
  } catch (e) {
    found = e.code !== 'ENOENT';
  }
  assert.ok(found, `${name} is missing: install it with ${install}`);
}

/**
 * ffprobe's view of a video file's first video stream: {codec, format,
 * frames (decoded and counted), width, height}.
 */
export function probeVideo(path) {
  requireTool('ffprobe', 'apt-get install ffmpeg');
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
      'stream=codec_name,nb_read_frames,width,height:format=format_name', '-of', 'json', path],
    { encoding: 'utf8' },
  );
  const { streams, format } = JSON.parse(out);
  assert.equal(streams.length, 1, `${path}: one video stream (${out})`);
  const [s] = streams;
  return { codec: s.codec_name, format: format.format_name, frames: Number(s.nb_read_frames), width: s.width, height: s.height };
}

/** A fresh temporary directory, removed by the returned `cleanup`. */
export async function tempDir(prefix) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** AUTOLABEL_CLI, else the newer of the release and debug builds, else a release build made now. */
export function findCli() {
  if (process.env.AUTOLABEL_CLI) return process.env.AUTOLABEL_CLI;
  const builds = [join(TARGET, 'release/autolabel'), join(TARGET, 'debug/autolabel')].filter((p) => existsSync(p));
  if (builds.length) return builds.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  console.log('building the autolabel CLI (cargo build --release -p autolabel --bin autolabel)…');
  execFileSync('cargo', ['build', '--release', '--locked', '-p', 'autolabel', '--bin', 'autolabel'], {
    cwd: ROOT,
    env: { ...process.env, CARGO_TARGET_DIR: TARGET },
    stdio: 'inherit',
  });
  return join(TARGET, 'release/autolabel');
}

/**
 * Runs the core's release example `name` (`cargo run --release --example`)
 * with `args` on the team's target dir and returns the JSON object it prints last.
 */
export function runExample(name, args) {
  const env = { ...process.env, CARGO_TARGET_DIR: process.env.CARGO_TARGET_DIR ?? join(homedir(), '.cache/autolabel/target') };
  const out = execFileSync('cargo', ['run', '-q', '--release', '-p', 'autolabel', '--example', name, '--', ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop());
}

// ------------------------------------------------------------ page benchmarks

/** The median of `xs`. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Per key, the median of the rounds' numbers (other values from the first round). */
export const medians = (rounds) =>
  Object.fromEntries(
    Object.entries(rounds[0]).map(([key, value]) => [key, typeof value === 'number' ? median(rounds.map((r) => r[key])) : value]),
  );

/**
 * The page setups a benchmark on `backend` compares: on the CPU, the threaded
 * build (a cross-origin isolated page) and the one-thread build a plain
 * static server gets; WebGPU once.
 */
export const benchSetups = (backend) =>
  backend === 'cpu' ? [{ backend, isolated: true }, { backend, isolated: false }] : [{ backend, isolated: true }];

/**
 * A page benchmark's setup: the page (`setup` from `benchSetups`) with the
 * small demo scene's frame 0 open and the checkpoint in `modelDir` loaded into
 * model panel `panel` through its Files… picker. Resolves with
 * {session, loaded (the panel's state), loadS}; the caller closes the session.
 */
export async function openBenchModel({ panel, modelDir, setup, timeout }) {
  const session = await openSession({ isolated: setup.isolated });
  try {
    await openOn(session, setup.backend, '?demo=small');
    await waitForFrame(session.page, 0, 120_000);
    const t0 = Date.now();
    await session.page.locator(`#pick-${panel}`).setInputFiles([join(modelDir, 'config.json'), join(modelDir, 'model.safetensors')]);
    const loaded = await waitPanel(session.page, panel, (key) => ['ready', 'error'].includes(window.__autolabel[key].status), timeout);
    if (loaded.status !== 'ready') throw new Error(loaded.error);
    return { session, loaded, loadS: (Date.now() - t0) / 1000 };
  } catch (e) {
    await session.close();
    throw e;
  }
}

/** A page benchmark's column name: where the model ran. */
export function benchColumn({ info, load }) {
  if (info.backend === 'webgpu') return 'page, WebGPU (SwiftShader)';
  const threads = load.build.threads === 1 ? '1 thread' : `${load.build.threads} threads`;
  return `page, wasm CPU build (SIMD, ${threads})`;
}

/** Prints a Markdown table: `header` and `rows` are arrays of cells. */
export function printTable(header, rows) {
  const line = (cells) => console.log(`| ${cells.join(' | ')} |`);
  line(header);
  line(header.map(() => '---'));
  rows.forEach(line);
}
