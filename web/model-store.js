// Model files for the page: fetched from a URL with progress, checked against
// a known sha256, kept in Cache Storage so the next visit works offline — or
// taken from files the user dropped. Runs in the model worker.

const CACHE_NAME = 'autolabel-models-v1';
const SHA_HEADER = 'x-autolabel-sha256';
/** On a half-precision copy: the sha256 of the published file it was made from. */
const HALF_OF_HEADER = 'x-autolabel-half-of';
/** The cache key of `url`'s half-precision copy (Cache Storage ignores fragments, so a query). */
export function halfKey(url) {
  const key = new URL(url);
  key.searchParams.set('autolabel-precision', 'f16');
  return key.href;
}

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** sha256 of `bytes` as lower-case hex (SubtleCrypto). */
export const sha256 = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));

export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;

const openCache = () => (typeof caches === 'undefined' ? Promise.resolve(null) : caches.open(CACHE_NAME).catch(() => null));

/** Reads a response body, reporting `{done, total}` as bytes arrive. */
async function readBody(response, name, progress) {
  const total = Number(response.headers.get('content-length')) || null;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let done = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    done += value.byteLength;
    progress({ text: `downloading ${name} (${mib(done)}${total ? ` of ${mib(total)}` : ''})`, done, total });
  }
  if (total && done !== total) throw new Error(`${name}: the download stopped at ${mib(done)} of ${mib(total)}`);
  const bytes = new Uint8Array(done);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/**
 * The bytes of `url`, from Cache Storage when an earlier visit stored them,
 * else downloaded. `expected` (hex sha256, optional) is checked either way;
 * without it the hash of the first download is stored and later loads of the
 * cached copy must match it. With `half` (a function making a half-precision
 * copy of the file's bytes) the cache keeps that copy instead, under its own
 * key, made from a cached or downloaded full file, and the copy is what
 * loads. Resolves `{bytes, sha256 (of the published file), fromCache,
 * verified, half}`.
 */
export async function fetchModelFile(url, { expected = null, progress = () => {}, half = null } = {}) {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop());
  const cache = await openCache();
  if (half) {
    const copy = cache ? await cache.match(halfKey(url)) : null;
    if (copy) return readHalfCopy(cache, url, copy, { name, expected, progress });
  }
  const full = await fetchFullFile(cache, url, { name, expected, progress, store: !half });
  if (!half) return { ...full, half: false };
  progress({ text: `making the f16 copy of ${name}` });
  let bytes;
  try {
    bytes = half(full.bytes);
  } catch (e) {
    throw new Error(`${name}: no f16 copy (${e.message ?? e})`);
  }
  if (cache) await storeHalfCopy(cache, url, bytes, full.sha256);
  return { ...full, bytes, half: true };
}

/** Caches `bytes`, the f16 copy of `url` (sha256 `origin`), in place of the full file. */
async function storeHalfCopy(cache, url, bytes, origin) {
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': String(bytes.byteLength),
    [SHA_HEADER]: await sha256(bytes),
    [HALF_OF_HEADER]: origin,
  };
  const stored = await cache.put(halfKey(url), new Response(bytes, { headers })).then(
    () => true,
    () => false,
  );
  // The full file goes only once its copy is in: a full quota keeps it.
  if (stored) await cache.delete(url).catch(() => {});
}

/** A cached half-precision copy, checked against its own hash and, with `expected`, its origin's. */
async function readHalfCopy(cache, url, copy, { name, expected, progress }) {
  progress({ text: `reading the f16 copy of ${name} from the browser cache` });
  const bytes = new Uint8Array(await copy.arrayBuffer());
  const origin = copy.headers.get(HALF_OF_HEADER);
  const damaged = (await sha256(bytes)) !== copy.headers.get(SHA_HEADER);
  if (damaged || (expected && origin !== expected)) {
    await cache.delete(halfKey(url));
    throw new Error(
      `${name}: the cached f16 copy ` +
        (damaged ? 'was damaged' : `was made from another file (sha256 ${origin.slice(0, 16)}…)`) +
        ' and is removed: load again to download the file',
    );
  }
  return { bytes, sha256: origin, fromCache: true, verified: Boolean(expected), half: true };
}

/** The published file, cached or downloaded, checked; `store`: keep a download in the cache. */
async function fetchFullFile(cache, url, { name, expected, progress, store }) {
  const cached = cache ? await cache.match(url) : null;
  let bytes;
  let fromCache = false;
  let recorded = null;
  if (cached) {
    progress({ text: `reading ${name} from the browser cache` });
    bytes = new Uint8Array(await cached.arrayBuffer());
    recorded = cached.headers.get(SHA_HEADER);
    fromCache = true;
  } else {
    progress({ text: `downloading ${name}` });
    let response;
    try {
      response = await fetch(url, { mode: 'cors' });
    } catch (e) {
      throw new Error(`${name}: could not reach ${url} (${e.message}); offline, or the server refuses cross-origin requests`);
    }
    if (!response.ok) throw new Error(`${name}: ${url} answered HTTP ${response.status} ${response.statusText}`.trim());
    bytes = await readBody(response, name, progress);
  }
  progress({ text: `checking ${name} (sha256 of ${mib(bytes.byteLength)})` });
  const digest = await sha256(bytes);
  const want = expected ?? recorded;
  if (want && want !== digest) {
    if (fromCache) await cache.delete(url);
    throw new Error(
      `${name}: sha256 ${digest.slice(0, 16)}… does not match the expected ${want.slice(0, 16)}…` +
        (fromCache ? ' (the cached copy was damaged and is removed: load again to download it)' : ' (a wrong or truncated file)'),
    );
  }
  if (cache && !fromCache && store) {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength), [SHA_HEADER]: digest };
    await cache.put(url, new Response(bytes, { headers })).catch(() => {});
  }
  return { bytes, sha256: digest, fromCache, verified: Boolean(expected) };
}

/** Which of `urls` are already in the browser cache. */
export async function cachedUrls(urls) {
  const cache = await openCache();
  if (!cache) return [];
  const hits = await Promise.all(urls.map((u) => cache.match(u).then(Boolean)));
  return urls.filter((_, i) => hits[i]);
}
