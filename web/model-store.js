// Model files for the page: fetched from a URL with progress, checked against
// a known sha256, kept in Cache Storage so the next visit works offline — or
// taken from files the user dropped. Runs in the model worker.

const CACHE_NAME = 'autolabel-models-v1';
const SHA_HEADER = 'x-autolabel-sha256';

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
 * cached copy must match it. Resolves `{bytes, sha256, fromCache, verified}`.
 */
export async function fetchModelFile(url, { expected = null, progress = () => {} } = {}) {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop());
  const cache = await openCache();
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
  if (cache && !fromCache) {
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
