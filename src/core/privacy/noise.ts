/**
 * Gaussian noise for differential privacy, from the platform's cryptographically secure generator
 * (`crypto.getRandomValues`, the same in browsers, workers and Node), never Math.random or the project's
 * seeded RNG: noise an attacker could predict protects nothing. Uniforms take 53 random bits each, in
 * (0, 1], so the Box–Muller transform never takes log(0); each pair of uniforms gives two independent
 * standard normals.
 */

/** Uniforms in (0, 1] with 53 bits each, drawn in batches from the CSPRNG. */
export class SecureUniforms {
  private readonly words = new Uint32Array(2048);
  private next = this.words.length;

  draw(): number {
    if (this.next >= this.words.length) {
      crypto.getRandomValues(this.words);
      this.next = 0;
    }
    const high = this.words[this.next++]! >>> 5; // 27 bits
    const low = this.words[this.next++]! >>> 6; // 26 bits
    return (high * 67108864 + low + 1) / 9007199254740992; // (k + 1) / 2^53, k in [0, 2^53)
  }
}

/** `length` independent draws from N(0, σ²). */
export function gaussianNoise(length: number, sigma: number, uniforms: { draw(): number } = new SecureUniforms()): Float64Array {
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new RangeError(`noise standard deviation ${sigma} is not a finite non-negative number`);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i += 2) {
    const radius = sigma * Math.sqrt(-2 * Math.log(uniforms.draw()));
    const angle = 2 * Math.PI * uniforms.draw();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < length) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** Adds N(0, σ²) to every value of `values`, in place. */
export function addGaussianNoise(values: Float32Array, sigma: number, uniforms?: { draw(): number }): Float32Array {
  const noise = gaussianNoise(values.length, sigma, uniforms);
  for (let i = 0; i < values.length; i++) values[i]! += noise[i]!;
  return values;
}
