// Dropped files as the core reads them in a worker: `read(path) → Uint8Array`
// over `File`s, synchronously (FileReaderSync, which dedicated workers have),
// one file when the core asks for it — so a clip of any length costs one
// frame's bytes at a time in the wasm heap. Used by the pipeline's ops (a
// frame folder, a nuScenes dataroot) and the batch's (dropped images).

/** `read(path)` over `byPath` (a Map of path → File); a path it lacks throws, naming why. */
export function syncReader(byPath, missing = 'not among the dropped files') {
  const sync = new FileReaderSync();
  return (path) => {
    const file = byPath.get(path);
    if (!file) throw new Error(missing);
    return new Uint8Array(sync.readAsArrayBuffer(file));
  };
}

/** `read(offset, length) → Uint8Array` over one `File`, synchronously (a worker's FileReaderSync): the core's ranged reads of a video. */
export function rangeReader(file) {
  const sync = new FileReaderSync();
  return (offset, length) => new Uint8Array(sync.readAsArrayBuffer(file.slice(offset, offset + length)));
}

/**
 * The `version` table files among `files` ({name: File}) collected into the
 * wasm module's NuScenesFiles (a missing table is left for the loader to
 * name), with progress by bytes.
 */
export async function nuscenesTables(api, version, files, progress) {
  const tables = api.nuscenesTableNames()
    .map((table) => files[`${table}.json`])
    .filter(Boolean);
  const collected = new api.NuScenesFiles();
  const total = tables.reduce((sum, file) => sum + file.size, 0);
  let done = 0;
  for (const file of tables) {
    progress({ text: `reading ${version}/${file.name}`, done, total });
    collected.insert(`${version}/${file.name}`, new Uint8Array(await file.arrayBuffer()));
    done += file.size;
  }
  progress({ text: `checking the ${version} tables…`, done, total });
  return collected;
}
