// What the model panels (web/segment.js, web/detect.js) share about
// checkpoints: the entries of models/manifest.json for one network, what
// loading one will download, a dropped checkpoint's two files, and the line
// that describes a loaded model.

const MANIFEST_URL = new URL('../models/manifest.json', import.meta.url);

export const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;
export const seconds = (ms) => `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)} s`;

let manifest = null; // one fetch of the model list, shared by the panels

async function fetchManifest() {
  const response = await fetch(MANIFEST_URL);
  if (!response.ok) throw new Error(`models/manifest.json: HTTP ${response.status}`);
  return (await response.json()).models;
}

/** The manifest's checkpoints of `network` (`sam2`, `grounding_dino`). */
export async function loadManifest(network) {
  manifest ??= fetchManifest();
  const models = await manifest;
  return models.filter((m) => m.network === network);
}

/** Says what loading `model` will download, or that it is cached. */
export async function describeCheckpoint(model) {
  const base = new URL(model.url, location.href);
  const url = new URL('model.safetensors', base).href;
  const cached = typeof caches !== 'undefined' && (await caches.match(url).catch(() => null));
  if (cached) return `${model.name}: in this browser's cache — loads offline.`;
  if (model.bytes) return `${model.name}: ${mib(model.bytes['model.safetensors'])} to download once (then cached).`;
  return (
    `${model.name}: not downloaded yet — model.safetensors from ${base.host}` +
    (model.image_model_bytes_f32 ? `, more than ${mib(model.image_model_bytes_f32)} (f32; exact size once the download starts)` : '') +
    '. Downloaded once, then cached.'
  );
}

/**
 * `{config, weights}` of dropped files, or `{error}` naming what is missing
 * (`what`: the model's name in the message).
 */
export function checkpointOfFiles(files, what) {
  const config = files.find((f) => f.name === 'config.json');
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  if (config && weights) return { config, weights };
  const names = files.map((f) => f.name).join(', ') || 'nothing';
  return { error: `a ${what} checkpoint is two files, config.json and model.safetensors; got ${names}` };
}

/** "on WebGPU — 1.6 MiB downloaded, sha256 … verified, built in 0.1 s" for a load report. */
export function describeLoad({ info, source, sha256, verified, bytes, loadMs }) {
  const where = info.backend === 'webgpu' ? 'WebGPU' : 'the CPU';
  const from = { cache: 'from the browser cache', download: 'downloaded', files: 'from your files' }[source];
  const hash = verified ? `sha256 ${sha256.slice(0, 12)}… verified` : `sha256 ${sha256.slice(0, 12)}…`;
  return `on ${where} — ${mib(bytes)} ${from}, ${hash}, built in ${seconds(loadMs)}`;
}
