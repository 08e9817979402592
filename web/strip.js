// The frame strip: thumbnails of every frame of a short clip, else of evenly
// spaced ones, under the scrubber. A thumbnail is drawn whenever its frame is
// decoded; clicking one jumps there.

const SLOTS = 16;
const THUMB_WIDTH = 160;

export class FrameStrip {
  constructor(element, onPick) {
    this.element = element;
    this.onPick = onPick;
    this.slots = [];
  }

  /** Lays out slots for a clip of `count` frames with image aspect `aspect` (w / h). */
  reset(count, aspect, keyframes) {
    const n = Math.min(SLOTS, count);
    const indices = [
      ...new Set(Array.from({ length: n }, (_, k) => (n > 1 ? Math.round((k * (count - 1)) / (n - 1)) : 0))),
    ];
    this.element.replaceChildren();
    this.slots = indices.map((index) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = `thumb${keyframes.has(index) ? ' key' : ''}`;
      button.title = `frame ${index}`;
      button.dataset.index = String(index);
      const canvas = document.createElement('canvas');
      canvas.width = THUMB_WIDTH;
      canvas.height = Math.round(THUMB_WIDTH / aspect);
      const label = document.createElement('span');
      label.textContent = String(index);
      button.append(canvas, label);
      button.addEventListener('click', () => this.onPick(index));
      this.element.append(button);
      return { index, canvas, button, filled: false };
    });
  }

  /** Frames whose thumbnails are still missing. */
  missing() {
    return this.slots.filter((s) => !s.filled).map((s) => s.index);
  }

  /** Draws the thumbnail of frame `index` if it has a slot. */
  offer(index, bitmap) {
    const slot = this.slots.find((s) => s.index === index);
    if (!slot) return;
    const { canvas } = slot;
    canvas.height = Math.round((THUMB_WIDTH * bitmap.height) / bitmap.width);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    slot.filled = true;
    slot.button.classList.add('filled');
  }

  /** Marks the slot nearest frame `index`. */
  mark(index) {
    let nearest = null;
    for (const s of this.slots)
      if (!nearest || Math.abs(s.index - index) < Math.abs(nearest.index - index)) nearest = s;
    for (const s of this.slots) s.button.classList.toggle('current', s === nearest);
  }
}
