// The nuScenes scene picker: version (its tables load in a worker, with
// progress and Cancel), scene, camera and frame limit.

const $ = (id) => document.getElementById(id);

function fillSelect(select, options) {
  select.replaceChildren(
    ...options.map(({ value, text }) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = text;
      return option;
    }),
  );
}

export class SceneDialog {
  /**
   * `host`: {runTask(label, work), chosen(folder, {scene, channel, maxFrames}),
   * shownFolder() (the folder of the clip on screen: kept on cancel), maxFrames()}.
   */
  constructor(host) {
    this.host = host;
    this.dialog = $('nuscenes-dialog');
    this.folder = null;
    $('ns-version').addEventListener('change', (e) => this.loadVersion(e.target.value));
    $('ns-scene').addEventListener('change', () => this.describeScene());
    $('ns-open').addEventListener('click', () => this.choose());
    $('ns-cancel').addEventListener('click', () => this.cancel());
    this.dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      this.cancel();
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  /** Shows `folder`'s choices, loading its default version first unless loaded. */
  open(folder) {
    if (this.folder && this.folder !== folder) this.discard();
    this.folder = folder;
    const { tree, versions } = folder;
    $('nuscenes-root').textContent =
      `${tree.name}/ · ${versions.length === 1 ? versions[0] : `${versions.length} versions`}`;
    fillSelect(
      $('ns-version'),
      versions.map((v) => ({ value: v, text: v })),
    );
    $('ns-version').disabled = versions.length < 2;
    $('ns-max-frames').value = String(this.host.maxFrames());
    this.dialog.showModal();
    if (folder.tables) {
      $('ns-version').value = folder.version;
      this.showTables(folder.tables);
    } else {
      $('ns-version').value = versions.includes('v1.0-mini') ? 'v1.0-mini' : versions[0];
      this.loadVersion($('ns-version').value);
    }
  }

  async loadVersion(version) {
    const folder = this.folder;
    this.setChoicesEnabled(false);
    $('ns-loading').hidden = false;
    const tables = await this.host.runTask(`loading ${version}`, ({ signal, onProgress }) =>
      folder.load(version, { signal, onProgress: (p) => (this.showProgress(p), onProgress(p)) }),
    );
    if (folder !== this.folder) return;
    $('ns-loading').hidden = true;
    if (tables) this.showTables(tables);
    else this.close();
  }

  showTables({ scenes, cameras }) {
    $('ns-loading').hidden = true;
    fillSelect(
      $('ns-scene'),
      scenes.map((s) => ({ value: s.name, text: `${s.name} — ${s.nbrSamples} samples` })),
    );
    fillSelect(
      $('ns-camera'),
      cameras.map((c) => ({ value: c, text: c })),
    );
    this.describeScene();
    this.setChoicesEnabled(true);
  }

  showProgress({ text, done, total }) {
    const known = total > 0;
    $('ns-loading-text').textContent = known ? `${text} (${((100 * done) / total).toFixed(0)} %)` : text;
    if (known) $('ns-loading-progress').value = done / total;
    else $('ns-loading-progress').removeAttribute('value');
  }

  setChoicesEnabled(enabled) {
    for (const id of ['ns-scene', 'ns-camera', 'ns-max-frames', 'ns-open']) $(id).disabled = !enabled;
  }

  describeScene() {
    const scene = this.folder?.tables?.scenes.find((s) => s.name === $('ns-scene').value);
    $('ns-scene-description').textContent = scene ? scene.description : '';
  }

  choose() {
    const folder = this.folder;
    const choice = {
      scene: $('ns-scene').value,
      channel: $('ns-camera').value,
      maxFrames: Math.max(1, Math.floor(Number($('ns-max-frames').value) || 1)),
    };
    this.folder = null;
    this.dialog.close();
    this.host.chosen(folder, choice);
  }

  cancel() {
    this.host.cancelTask();
    this.close();
  }

  close() {
    this.discard();
    if (this.dialog.open) this.dialog.close();
  }

  /** Lets go of the folder unless the clip on screen reads from it. */
  discard() {
    if (this.folder && this.folder !== this.host.shownFolder()) this.folder.close();
    this.folder = null;
  }
}
