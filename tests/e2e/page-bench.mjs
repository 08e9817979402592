// Page load benchmark (a command, not a test): serves the page, loads it RUNS
// times in fresh Chromium profiles and prints medians of
//   - DOMContentLoaded and the `autolabel-interactive` mark (every control wired),
//   - the `autolabel-backend` mark (WebGPU adapter and storage probed, panel filled),
//   - wasm fetch + instantiate in a worker (the small demo scene's `wasmInitMs`),
// plus the wasm's size raw and gzipped.
//
//   web/build.sh && node tests/e2e/page-bench.mjs [RUNS]     (default 5)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT, openSession } from './harness.mjs';

const RUNS = Number(process.argv[2] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function loadOnce() {
  const session = await openSession();
  try {
    const { page } = session;
    await page.goto(session.url('?demo=small'), { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => window.__autolabel.backend !== null && window.__autolabel.clip !== null, null, {
      timeout: 60_000,
    });
    return await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const mark = (name) => performance.getEntriesByName(name)[0].startTime;
      return {
        domContentLoaded: nav.domContentLoadedEventEnd,
        interactive: mark('autolabel-interactive'),
        backend: mark('autolabel-backend'),
        wasmInit: window.__autolabel.timings.wasmInitMs,
      };
    });
  } finally {
    await session.close();
  }
}

const runs = [];
for (let i = 0; i < RUNS; i += 1) runs.push(await loadOnce());
const wasm = readFileSync(join(ROOT, 'web/pkg/autolabel_web_bg.wasm'));
const row = (key) => `${median(runs.map((r) => r[key])).toFixed(0)} ms`;
console.log(`runs: ${RUNS} (medians)`);
console.log(`DOMContentLoaded:              ${row('domContentLoaded')}`);
console.log(`interactive (controls wired):  ${row('interactive')}`);
console.log(`backend panel filled:          ${row('backend')}`);
console.log(`wasm fetch + init (worker):    ${row('wasmInit')}`);
console.log(`wasm: ${(wasm.length / 1024).toFixed(0)} KiB, gzip ${(gzipSync(wasm).length / 1024).toFixed(0)} KiB`);
