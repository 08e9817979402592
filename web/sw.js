// The page's service worker: keeps the app shell — index.html, the page's
// JS and CSS, the vendored libraries, both wasm builds and the model list —
// in Cache Storage, so that a second visit works with no network: the
// offline customer demo. Model files are not its business: web/model-store.js
// keeps each checkpoint in a cache of its own as it loads.
//
// Network first: online, every shell file comes from the server (and its
// cached copy is refreshed), so a new build is never hidden behind an old
// one; offline, or with the server gone, the cached copy answers.
//
// It controls the page at the repository root, one folder above this file:
// web/app.js registers it with that scope, which a server allows with the
// `Service-Worker-Allowed: /` header on this file (web/serve.py sends it).
// What to cache on install is web/shell.json, which web/build.sh writes.

const SHELL_CACHE = 'autolabel-shell-v1';
const ROOT = new URL('../', self.location.href);

/** Every file of the shell (web/shell.json: paths from the repository root), and the root itself. */
async function shellUrls() {
  const response = await fetch(new URL('shell.json', self.location.href), { cache: 'no-store' });
  if (!response.ok) throw new Error(`web/shell.json: HTTP ${response.status} (run web/build.sh)`);
  const paths = await response.json();
  return [ROOT.href, ...paths.map((p) => new URL(p, ROOT).href)];
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(await shellUrls());
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const stale = (await caches.keys()).filter((k) => k.startsWith('autolabel-shell-') && k !== SHELL_CACHE);
      await Promise.all(stale.map((k) => caches.delete(k)));
      await self.clients.claim();
    })(),
  );
});

/**
 * Same-origin GETs (and HEADs: the worker checks that a wasm build is there
 * before loading it) of the shell: everything but the model files (models/
 * other than the list).
 */
function isShell(request) {
  const url = new URL(request.url);
  if (!['GET', 'HEAD'].includes(request.method)) return false;
  if (url.origin !== ROOT.origin || !url.href.startsWith(ROOT.href)) return false;
  const path = url.pathname.slice(ROOT.pathname.length);
  return !path.startsWith('models/') || path === 'models/manifest.json';
}

async function networkFirst(event) {
  const { request } = event;
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (request.method === 'GET' && response.ok && response.type === 'basic') {
      const url = new URL(request.url);
      url.search = '';
      event.waitUntil(cache.put(url.href, response.clone()).catch(() => {}));
    }
    return response;
  } catch (offline) {
    // `?demo=small`, `worker.js?threads`: the query picks a mode, not a file.
    const cached = await cache.match(request, { ignoreSearch: true, ignoreMethod: true });
    if (cached) return cached;
    throw offline;
  }
}

self.addEventListener('fetch', (event) => {
  if (isShell(event.request)) event.respondWith(networkFirst(event));
});
