// Decoded frames kept for scrubbing back and forth: least recently used first
// out, bounded by total pixels so memory stays flat for any frame size.

// 48 Mpx ≈ 190 MB of RGBA: 33 frames of 1600×900, 6 of 4K.
const PIXEL_BUDGET = 48e6;
const MIN_FRAMES = 3;

export class FrameCache {
  constructor() {
    this.map = new Map();
    this.pixels = 0;
    this.pinned = null; // the bitmap on screen: evicted from the map but never closed
  }

  has(index) {
    return this.map.has(index);
  }

  get(index) {
    const bitmap = this.map.get(index);
    if (bitmap) {
      this.map.delete(index);
      this.map.set(index, bitmap);
    }
    return bitmap;
  }

  set(index, bitmap) {
    this.delete(index);
    this.map.set(index, bitmap);
    this.pixels += bitmap.width * bitmap.height;
    while (this.pixels > PIXEL_BUDGET && this.map.size > MIN_FRAMES) {
      this.delete(this.map.keys().next().value);
    }
  }

  delete(index) {
    const bitmap = this.map.get(index);
    if (!bitmap) return;
    this.map.delete(index);
    this.pixels -= bitmap.width * bitmap.height;
    if (bitmap !== this.pinned) bitmap.close();
  }

  /** Keeps `bitmap` open while it is displayed, even after eviction. */
  pin(bitmap) {
    const previous = this.pinned;
    this.pinned = bitmap;
    if (previous && previous !== bitmap && ![...this.map.values()].includes(previous)) previous.close();
  }

  clear() {
    for (const index of [...this.map.keys()]) this.delete(index);
    this.pin(null);
  }

  indices() {
    return [...this.map.keys()];
  }
}
