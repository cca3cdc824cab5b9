/**
 * Turns a drawing into an MNIST-like 28×28 image: the strokes' bounding box scaled to fit 20×20, placed so
 * that the centre of mass sits at the centre, as LeCun et al. prepared MNIST. Pure functions on pixel
 * arrays; the canvas work is in draw-pad.ts.
 */
export const SIZE = 28;
const BOX = 20;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Bounding box of the pixels above `threshold` in a `width × height` intensity image, or null if blank. */
export function inkBounds(intensity: ArrayLike<number>, width: number, height: number, threshold = 16): Box | null {
  let minX = width, minY = height, maxX = -1, maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (intensity[y * width + x]! > threshold) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  return maxX < 0 ? null : { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** Where the box goes in the 28×28 image: its longer side 20 px, centred. */
export function fitBox(box: Box): Box {
  const scale = BOX / Math.max(box.width, box.height);
  const width = Math.max(1, Math.round(box.width * scale));
  const height = Math.max(1, Math.round(box.height * scale));
  return { x: Math.floor((SIZE - width) / 2), y: Math.floor((SIZE - height) / 2), width, height };
}

/** Shifts a 28×28 image so its centre of mass is at (14, 14), as whole pixels. */
export function centreByMass(image: Uint8Array): Uint8Array {
  let mass = 0, sx = 0, sy = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const v = image[y * SIZE + x]!;
      mass += v;
      sx += v * x;
      sy += v * y;
    }
  }
  if (mass === 0) return image.slice();
  const dx = Math.round((SIZE - 1) / 2 - sx / mass);
  const dy = Math.round((SIZE - 1) / 2 - sy / mass);
  const out = new Uint8Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const tx = x + dx, ty = y + dy;
      if (tx >= 0 && tx < SIZE && ty >= 0 && ty < SIZE) out[ty * SIZE + tx] = image[y * SIZE + x]!;
    }
  }
  return out;
}
