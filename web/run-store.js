// Runs kept in the browser's storage (OPFS), one per clip, as the pipeline
// worker saves them while they run (web/src/pipeline.rs → SavedRun), so that a
// reloaded page takes a run up where it stopped and a finished one reopens
// without running a model again. Layout: runs/<clip>/meta.json, run.json and
// tracker.bin (the tracker in the middle of propagation). meta.json is
// written last and removed first: a run whose saving was cut off is not
// offered.

const runs = async () => (await navigator.storage.getDirectory()).getDirectoryHandle('runs', { create: true });

/** The directory name of a clip's run (OPFS names cannot hold '/'). */
const nameOf = (identity) => encodeURIComponent(identity);

async function write(dir, name, data) {
  const file = await dir.getFileHandle(name, { create: true });
  const writable = await file.createWritable();
  try {
    await writable.write(data);
    await writable.close();
  } catch (e) {
    await writable.abort().catch(() => {});
    throw e;
  }
}

async function remove(dir, name) {
  await dir.removeEntry(name).catch((e) => {
    if (e.name !== 'NotFoundError') throw e;
  });
}

async function read(dir, name, as) {
  try {
    const file = await (await dir.getFileHandle(name)).getFile();
    return as === 'text' ? file.text() : new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    if (e.name === 'NotFoundError') return null;
    throw e;
  }
}

async function clipDir(identity, create) {
  try {
    return await (await runs()).getDirectoryHandle(nameOf(identity), { create });
  } catch (e) {
    if (e.name === 'NotFoundError') return null;
    throw e;
  }
}

/** Keeps a clip's run: `meta` (what the Run panel lists), `run` (SavedRun's JSON text), `tracker` (bytes or null). */
export async function saveRun(identity, meta, run, tracker) {
  const dir = await clipDir(identity, true);
  await remove(dir, 'meta.json');
  await write(dir, 'run.json', run);
  if (tracker) await write(dir, 'tracker.bin', tracker);
  else await remove(dir, 'tracker.bin');
  await write(dir, 'meta.json', JSON.stringify(meta));
}

/** The meta of a clip's kept run, or null. */
export async function savedMeta(identity) {
  const dir = await clipDir(identity, false);
  const text = dir && (await read(dir, 'meta.json', 'text'));
  return text ? JSON.parse(text) : null;
}

/** A clip's kept run: {meta, run, tracker}, or null. */
export async function loadRun(identity) {
  const dir = await clipDir(identity, false);
  const meta = dir && (await read(dir, 'meta.json', 'text'));
  if (!meta) return null;
  const run = await read(dir, 'run.json', 'text');
  if (!run) return null;
  return { meta: JSON.parse(meta), run, tracker: await read(dir, 'tracker.bin', 'bytes') };
}

/** Forgets a clip's kept run. */
export async function forgetRun(identity) {
  await (await runs()).removeEntry(nameOf(identity), { recursive: true }).catch((e) => {
    if (e.name !== 'NotFoundError') throw e;
  });
}
