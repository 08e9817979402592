// What this browser offers the models: a WebGPU adapter (name, key limits,
// features), the CPU build's SIMD and threads, and the storage and codec APIs
// later steps use. Each capability comes with what its absence means.

// The smallest module using a SIMD instruction (i8x16.popcnt), from wasm-feature-detect.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
];

async function detectWebGpu() {
  if (!navigator.gpu) {
    return { available: false, reason: 'this browser has no WebGPU (navigator.gpu is missing)' };
  }
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (!adapter) {
    return { available: false, reason: 'WebGPU is present but offers no adapter (GPU blocklisted or WebGPU disabled)' };
  }
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' · ');
  return {
    available: true,
    name: name || 'unnamed adapter',
    fallback: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    limits: Object.fromEntries(KEY_LIMITS.map((k) => [k, adapter.limits[k]])),
    shaderF16: adapter.features.has('shader-f16'),
  };
}

async function detectOpfs() {
  if (!navigator.storage?.getDirectory)
    return { available: false, reason: 'navigator.storage.getDirectory is missing' };
  try {
    await navigator.storage.getDirectory();
    return { available: true };
  } catch (e) {
    return { available: false, reason: e.message };
  }
}

/** Everything the backend panel reports. */
export async function detectCapabilities() {
  const [webgpu, opfs] = await Promise.all([detectWebGpu(), detectOpfs()]);
  return {
    webgpu,
    simd: WebAssembly.validate(SIMD_PROBE),
    crossOriginIsolated: Boolean(self.crossOriginIsolated),
    threads: Boolean(self.crossOriginIsolated) && typeof SharedArrayBuffer === 'function',
    cores: navigator.hardwareConcurrency || 1,
    opfs,
    cacheStorage: typeof caches !== 'undefined',
    webcodecs: typeof VideoFrame === 'function',
  };
}

const mib = (bytes) => `${Math.round(bytes / 2 ** 20).toLocaleString('en')} MiB`;

function webGpuRow(gpu) {
  if (!gpu.available)
    return { ok: false, value: 'not available', note: `${gpu.reason}. Models will run on the CPU build.` };
  const l = gpu.limits;
  return {
    ok: true,
    value: `${gpu.name}${gpu.fallback ? ' (software fallback adapter)' : ''}`,
    note:
      `max buffer ${mib(l.maxBufferSize)} · storage binding ${mib(l.maxStorageBufferBindingSize)} · ` +
      `workgroup storage ${l.maxComputeWorkgroupStorageSize.toLocaleString('en')} B · ` +
      `${l.maxComputeInvocationsPerWorkgroup} invocations/workgroup · ` +
      `${l.maxStorageBuffersPerShaderStage} storage buffers/stage · ` +
      `shader-f16 ${gpu.shaderF16 ? 'yes (f16 weights)' : 'no (f32 weights)'}`,
  };
}

/** One row per capability: {key, label, ok, value, note}. */
function capabilityRows(caps) {
  const cpu = caps.simd
    ? { ok: true, value: `wasm SIMD, ${caps.threads ? `up to ${caps.cores} threads` : 'one thread'}` }
    : { ok: false, value: 'no wasm SIMD', note: 'this browser lacks WebAssembly SIMD: the CPU build cannot run here.' };
  return [
    { key: 'webgpu', label: 'WebGPU', ...webGpuRow(caps.webgpu) },
    { key: 'cpu', label: 'CPU build', ...cpu },
    {
      key: 'isolation',
      label: 'Cross-origin isolated',
      ok: caps.crossOriginIsolated,
      value: caps.crossOriginIsolated ? 'yes — threads possible' : 'no',
      note: caps.crossOriginIsolated
        ? undefined
        : 'without COOP/COEP headers the CPU build runs on one thread; serve the page with web/serve.py.',
    },
    {
      key: 'opfs',
      label: 'OPFS',
      ok: caps.opfs.available,
      value: caps.opfs.available ? 'available' : 'not available',
      note: caps.opfs.available
        ? 'model weights will be cached here for offline use.'
        : `${caps.opfs.reason}. ${
            caps.cacheStorage
              ? 'Model weights will be cached in Cache Storage instead.'
              : 'Model weights cannot be cached: they will download on every visit.'
          }`,
    },
    {
      key: 'webcodecs',
      label: 'WebCodecs',
      ok: caps.webcodecs,
      value: caps.webcodecs ? 'available' : 'not available',
      note: caps.webcodecs
        ? "checks each video frame's own timestamp, so a video cut short is caught."
        : 'videos still open (they are decoded by seeking a <video> element), but one cut short after its ' +
          'header cannot be told from a whole one: frames past the cut repeat the last decodable frame.',
    },
  ];
}

/** The backend models would run on: the user's remembered choice if usable, else WebGPU when present. */
export function defaultBackend(caps, remembered) {
  if (remembered === 'cpu' || (remembered === 'webgpu' && caps.webgpu.available)) return remembered;
  return caps.webgpu.available ? 'webgpu' : 'cpu';
}

/** Fills the panel's `<dl>` with one term per capability. */
export function renderCapabilities(dl, caps) {
  dl.replaceChildren(
    ...capabilityRows(caps).flatMap(({ key, label, ok, value, note }) => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.dataset.capability = key;
      dd.className = ok ? 'ok' : 'missing';
      const strong = document.createElement('span');
      strong.className = 'value';
      strong.textContent = value;
      dd.append(strong);
      if (note) {
        const span = document.createElement('span');
        span.className = 'note';
        span.textContent = note;
        dd.append(span);
      }
      return [dt, dd];
    }),
  );
}

/** What the backend choice means, in a sentence. */
export function describeBackend(backend, caps) {
  const target =
    backend === 'webgpu'
      ? `WebGPU on ${caps.webgpu.name}`
      : `the CPU build (wasm SIMD, ${caps.threads ? `${caps.cores} threads` : 'one thread'})`;
  return `Models will run on ${target}.`;
}
