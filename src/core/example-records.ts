/**
 * The compact binary form of labelled examples with uint8 features (the digits demo data): records of
 * `1 + featureCount` bytes, the label first, then the features (pixel intensities 0–255). No header: the
 * dataset's manifest says the feature count.
 */
export interface LabelledExample {
  label: number;
  /** Features as stored, uint8. */
  pixels: Uint8Array;
}

export function encodeRecords(examples: readonly LabelledExample[], featureCount: number): Uint8Array {
  const recordBytes = featureCount + 1;
  const out = new Uint8Array(examples.length * recordBytes);
  examples.forEach((ex, i) => {
    if (ex.pixels.length !== featureCount) throw new RangeError(`example ${i} has ${ex.pixels.length} features, expected ${featureCount}`);
    out[i * recordBytes] = ex.label;
    out.set(ex.pixels, i * recordBytes + 1);
  });
  return out;
}

export function decodeRecords(bytes: Uint8Array, featureCount: number): LabelledExample[] {
  const recordBytes = featureCount + 1;
  if (bytes.byteLength % recordBytes !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${recordBytes}-byte records`);
  }
  const examples: LabelledExample[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += recordBytes) {
    examples.push({ label: bytes[offset]!, pixels: bytes.slice(offset + 1, offset + recordBytes) });
  }
  return examples;
}
