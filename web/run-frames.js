// What the run made of single frames, fetched from the pipeline worker on
// demand and kept by frame index until the run's labels change: the frames
// with their labels drawn by the core, the evaluation's TP/FP/FN per frame.

export class RunFrames {
  /**
   * `fetch(index)` resolves with frame `index`'s value or null (nothing for
   * that frame); `loaded(index)` is called when one arrives; `dispose(value)`
   * frees one that is dropped.
   */
  constructor({ fetch, loaded, dispose = () => {} }) {
    this.fetch = fetch;
    this.loaded = loaded;
    this.dispose = dispose;
    this.values = new Map(); // index → value, or null: nothing for that frame
    this.pending = new Set();
  }

  /** Frame `index`'s value, or null (nothing, or not fetched yet: fetching starts). */
  get(index) {
    if (this.values.has(index)) return this.values.get(index);
    if (!this.pending.has(index)) {
      this.pending.add(index);
      this.fetch(index).then((value) => {
        if (!this.pending.delete(index)) {
          if (value) this.dispose(value);
          return;
        }
        this.values.set(index, value);
        this.loaded(index);
      });
    }
    return null;
  }

  /** Drops every value (and the fetches under way). */
  clear() {
    for (const value of this.values.values()) if (value) this.dispose(value);
    this.values.clear();
    this.pending.clear();
  }
}
