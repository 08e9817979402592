// What the user gave us, as a tree of files addressed by path relative to its
// root: a folder chosen with a `webkitdirectory` picker (every File listed up
// front, contents untouched), a folder dropped on the page (listed and opened
// lazily through the FileSystem entry API), or loose dropped files.
//
// A tree has `name`, `list(dir) → {files, dirs}` (names, sorted) and
// `file(path) → File | null`. Nothing reads file contents here.

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/** A tree over Files already in hand, keyed by their path below the root. */
class ListTree {
  constructor(name, filesByPath) {
    this.name = name;
    this.filesByPath = filesByPath;
  }

  async list(dir = '') {
    const prefix = dir ? `${dir}/` : '';
    const files = [];
    const dirs = new Set();
    for (const path of this.filesByPath.keys()) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) files.push(rest);
      else dirs.add(rest.slice(0, slash));
    }
    return { files: files.sort(byName), dirs: [...dirs].sort(byName) };
  }

  async file(path) {
    return this.filesByPath.get(path) ?? null;
  }
}

/** A dropped directory, read through `FileSystemDirectoryEntry` only when asked. */
class EntryTree {
  constructor(entry) {
    this.name = entry.name;
    this.root = entry;
  }

  async list(dir = '') {
    const entry = dir ? await this.directory(dir) : this.root;
    if (!entry) return { files: [], dirs: [] };
    const entries = await readAllEntries(entry);
    return {
      files: entries
        .filter((e) => e.isFile)
        .map((e) => e.name)
        .sort(byName),
      dirs: entries
        .filter((e) => e.isDirectory)
        .map((e) => e.name)
        .sort(byName),
    };
  }

  async file(path) {
    const entry = await new Promise((resolve) => this.root.getFile(path, {}, resolve, () => resolve(null)));
    return entry ? new Promise((resolve, reject) => entry.file(resolve, reject)) : null;
  }

  directory(path) {
    return new Promise((resolve) => this.root.getDirectory(path, {}, resolve, () => resolve(null)));
  }
}

async function readAllEntries(dirEntry) {
  const reader = dirEntry.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

/**
 * The files of a `webkitdirectory` picker as a tree named after the chosen
 * folder; null when the folder is empty (the browser then lists nothing).
 */
export function treeOfPickedFolder(fileList) {
  const files = [...fileList];
  if (!files.length) return null;
  const name = files[0].webkitRelativePath.split('/')[0] || 'folder';
  const byPath = new Map(files.map((f) => [f.webkitRelativePath.split('/').slice(1).join('/') || f.name, f]));
  return new ListTree(name, byPath);
}

/** Loose files as a flat tree. */
export const treeOfFiles = (name, files) => new ListTree(name, new Map(files.map((f) => [f.name, f])));

/**
 * What a drop carried: `{folder: EntryTree}` for one dropped directory, else
 * `{files: [File]}` (synthetic drops, or files without entries).
 */
export function readDrop(dataTransfer) {
  const items = [...(dataTransfer.items ?? [])].filter((item) => item.kind === 'file');
  const entries = items.map((item) => item.webkitGetAsEntry?.() ?? null);
  const dirs = entries.filter((e) => e && e.isDirectory);
  if (dirs.length === 1 && entries.length === 1) return { folder: new EntryTree(dirs[0]) };
  if (dirs.length) return { error: 'Drop one folder at a time (or files without folders).' };
  return { files: [...dataTransfer.files] };
}
