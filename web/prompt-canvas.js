// A box and points drawn with the pointer on the viewer canvas — the SAM 2
// panel's test prompts and the QA queue's fixes: a press that moves is a box,
// one that does not is a point (Shift+click or the right button: background).

const DRAG_PX = 4; // a press that moves less than this (canvas px) is a click

export class PromptCanvas {
  /**
   * Listens on `canvas` while `active()` holds. `toImage(canvasX, canvasY)` maps device pixels to image
   * pixels; `onBox([x0, y0, x1, y1])` and `onPoint([x, y, label])` (image pixels) take a finished press;
   * `redraw()` shows the drag under way.
   */
  constructor(canvas, { active, toImage, onBox, onPoint, redraw }) {
    this.drag = null;
    canvas.addEventListener('contextmenu', (e) => active() && e.preventDefault());
    canvas.addEventListener('pointerdown', (e) => {
      if (!active()) return;
      canvas.setPointerCapture(e.pointerId);
      this.drag = { x: e.offsetX, y: e.offsetY, now: null, negative: e.shiftKey || e.button === 2 };
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!this.drag) return;
      this.drag.now = [e.offsetX, e.offsetY];
      redraw();
    });
    canvas.addEventListener('pointerup', (e) => {
      const drag = this.drag;
      this.drag = null;
      if (!drag || !active()) return;
      const dpr = window.devicePixelRatio || 1;
      const moved = Math.hypot(e.offsetX - drag.x, e.offsetY - drag.y) * dpr;
      const a = toImage(drag.x * dpr, drag.y * dpr);
      const b = toImage(e.offsetX * dpr, e.offsetY * dpr);
      if (moved >= DRAG_PX) onBox([Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])]);
      else onPoint([a[0], a[1], drag.negative ? 0 : 1]);
    });
  }

  /**
   * Draws `box` (dashed, in `color`), the drag under way and `points` (object green, background pink)
   * over the frame; `view` maps image → canvas pixels.
   */
  draw(ctx, { scale, ox, oy }, { box, points, color = '#ffffff' }) {
    const dpr = window.devicePixelRatio || 1;
    const at = (x, y) => [ox + x * scale, oy + y * scale];
    ctx.save();
    ctx.lineWidth = 2 * dpr;
    if (box) {
      const [x0, y0] = at(box[0], box[1]);
      const [x1, y1] = at(box[2], box[3]);
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.strokeStyle = color;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    if (this.drag?.now) {
      ctx.setLineDash([4 * dpr, 4 * dpr]);
      ctx.strokeStyle = '#ffffffaa';
      const [x, y] = [this.drag.x * dpr, this.drag.y * dpr];
      ctx.strokeRect(x, y, this.drag.now[0] * dpr - x, this.drag.now[1] * dpr - y);
    }
    ctx.setLineDash([]);
    for (const [x, y, label] of points) {
      const [cx, cy] = at(x, y);
      ctx.beginPath();
      ctx.arc(cx, cy, 5 * dpr, 0, 2 * Math.PI);
      ctx.fillStyle = label ? '#3ddc97' : '#ff5d8f';
      ctx.fill();
      ctx.strokeStyle = '#000000';
      ctx.stroke();
    }
    ctx.restore();
  }
}
