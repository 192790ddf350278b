// The inpainting mask, painted over the source: a canvas of the source's own size laid over the picture,
// whose alpha is the mask (opaque = repaint). It is sent as A1111's `mask`: a PNG of the source's size,
// white where painted and black elsewhere ("white = repaint", as `i2i inpaint` and A1111 read it). Brush,
// eraser, invert and clear; mouse, pen and touch through pointer events. The brush size is in screen
// pixels, so the round cursor shows what a stroke covers at any zoom.

const paintColour = [255, 60, 90];

export class MaskPainter {
  /**
   * @param {HTMLCanvasElement} canvas the canvas laid over the source picture
   * @param {HTMLElement} cursor an element drawn as the brush outline
   * @param {() => void} onChange called after every stroke, invert and clear
   */
  constructor(canvas, cursor, onChange) {
    this.canvas = canvas;
    this.cursor = cursor;
    this.onChange = onChange;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.tool = 'brush';
    this.size = 32;
    this.last = null;
    this.empty = true;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    canvas.addEventListener('pointerleave', () => (this.cursor.hidden = true));
  }

  /** A new, empty mask of the source's size. */
  reset(width, height) {
    this.canvas.width = width;
    this.canvas.height = height;
    this.clear();
  }

  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.empty = true;
    this.onChange();
  }

  /** Painted becomes unpainted and the other way round. */
  invert() {
    const { width, height } = this.canvas;
    if (width === 0 || height === 0) return;
    const img = this.ctx.getImageData(0, 0, width, height);
    const d = img.data;
    for (let i = 0; i < d.length; i += 4) {
      d[i] = paintColour[0];
      d[i + 1] = paintColour[1];
      d[i + 2] = paintColour[2];
      d[i + 3] = 255 - d[i + 3];
    }
    this.ctx.putImageData(img, 0, 0);
    this.empty = this.scanEmpty();
    this.onChange();
  }

  /** True when nothing is painted (then the page sends no mask: plain img2img). */
  isEmpty() {
    return this.empty;
  }

  /** The share of the picture that is painted, 0..1 (partly covered pixels count in part). */
  coverage() {
    const { width, height } = this.canvas;
    if (width === 0 || height === 0) return 0;
    const d = this.ctx.getImageData(0, 0, width, height).data;
    let sum = 0;
    for (let i = 3; i < d.length; i += 4) sum += d[i];
    return sum / (255 * width * height);
  }

  /** The mask as A1111 takes it: a data URL of a PNG, white = repaint, black = keep. */
  toDataUrl() {
    const { width, height } = this.canvas;
    const out = document.createElement('canvas');
    out.width = width;
    out.height = height;
    const octx = out.getContext('2d');
    octx.fillStyle = '#fff';
    octx.fillRect(0, 0, width, height);
    octx.globalCompositeOperation = 'destination-in';
    octx.drawImage(this.canvas, 0, 0);
    octx.globalCompositeOperation = 'destination-over';
    octx.fillStyle = '#000';
    octx.fillRect(0, 0, width, height);
    return out.toDataURL('image/png');
  }

  scanEmpty() {
    const { width, height } = this.canvas;
    const d = this.ctx.getImageData(0, 0, width, height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return false;
    return true;
  }

  // Pointer position in the canvas's own pixels, and screen-to-canvas scale.
  point(e) {
    const r = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / Math.max(r.width, 1);
    return { x: (e.clientX - r.left) * scale, y: (e.clientY - r.top) * scale, scale, r };
  }

  showCursor(e) {
    const r = this.canvas.getBoundingClientRect();
    const parent = this.cursor.offsetParent?.getBoundingClientRect() ?? r;
    this.cursor.hidden = false;
    this.cursor.style.width = this.cursor.style.height = `${this.size}px`;
    this.cursor.style.left = `${e.clientX - parent.left}px`;
    this.cursor.style.top = `${e.clientY - parent.top}px`;
  }

  down(e) {
    if (e.button !== undefined && e.button !== 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.last = this.point(e);
    this.stroke(this.last, this.last);
  }

  move(e) {
    this.showCursor(e);
    if (!this.last) return;
    const p = this.point(e);
    this.stroke(this.last, p);
    this.last = p;
  }

  up(e) {
    if (!this.last) return;
    this.last = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.empty = this.scanEmpty();
    this.onChange();
  }

  stroke(from, to) {
    const c = this.ctx;
    c.save();
    c.globalCompositeOperation = this.tool === 'eraser' ? 'destination-out' : 'source-over';
    c.strokeStyle = c.fillStyle = `rgb(${paintColour.join(' ')})`;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.lineWidth = Math.max(1, this.size * to.scale);
    c.beginPath();
    c.moveTo(from.x, from.y);
    c.lineTo(to.x + (from === to ? 0.01 : 0), to.y);
    c.stroke();
    c.restore();
  }
}
