/** A canvas to draw a digit on with a mouse, pen or finger; `toDigit()` gives the 28×28 example. */
import { SIZE, centreByMass, fitBox, inkBounds } from './digit-image.ts';

export class DrawPad {
  private readonly ctx: CanvasRenderingContext2D;
  private drawing = false;
  private inked = false;

  /** Called when a stroke ends (the person lifted the pen). */
  onStrokeEnd: () => void = () => undefined;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('2D canvas is not available');
    this.ctx = ctx;
    this.clear();
    canvas.addEventListener('pointerdown', (e) => this.start(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel', 'pointerleave'] as const) {
      canvas.addEventListener(type, () => {
        if (this.drawing && this.inked) this.onStrokeEnd();
        this.drawing = false;
      });
    }
  }

  get isEmpty(): boolean {
    return !this.inked;
  }

  clear(): void {
    const { ctx, canvas } = this;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    this.inked = false;
  }

  /** The drawing as an MNIST-style 28×28 uint8 image, or null when nothing is drawn. */
  toDigit(): Uint8Array | null {
    const { width, height } = this.canvas;
    const rgba = this.ctx.getImageData(0, 0, width, height).data;
    const intensity = new Uint8Array(width * height);
    for (let i = 0; i < intensity.length; i++) intensity[i] = rgba[i * 4]!;
    const box = inkBounds(intensity, width, height);
    if (!box) return null;
    const target = fitBox(box);
    const small = document.createElement('canvas');
    small.width = small.height = SIZE;
    const sctx = small.getContext('2d', { willReadFrequently: true })!;
    sctx.fillStyle = '#000';
    sctx.fillRect(0, 0, SIZE, SIZE);
    sctx.imageSmoothingQuality = 'high';
    sctx.drawImage(this.canvas, box.x, box.y, box.width, box.height, target.x, target.y, target.width, target.height);
    const data = sctx.getImageData(0, 0, SIZE, SIZE).data;
    const image = new Uint8Array(SIZE * SIZE);
    for (let i = 0; i < image.length; i++) image[i] = data[i * 4]!;
    return centreByMass(image);
  }

  private point(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * this.canvas.width, ((e.clientY - r.top) / r.height) * this.canvas.height];
  }

  private start(e: PointerEvent): void {
    this.drawing = true;
    this.canvas.setPointerCapture(e.pointerId);
    const [x, y] = this.point(e);
    this.ctx.beginPath();
    this.ctx.moveTo(x, y);
    this.stroke(x, y);
  }

  private move(e: PointerEvent): void {
    if (!this.drawing) return;
    const [x, y] = this.point(e);
    this.stroke(x, y);
  }

  private stroke(x: number, y: number): void {
    const { ctx } = this;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.canvas.width / 12;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.lineTo(x, y);
    ctx.stroke();
    this.inked = true;
  }
}
