/** Test-only data for the simulator's tests: a toy task the tiny model can learn. */
import type { ExampleBatch } from '../model/tf-model.ts';

/** Four features, three classes: the label is the index of the largest of the first three features. */
export function toyBatch(count: number, rng: () => number): ExampleBatch {
  const features = Float32Array.from({ length: count * 4 }, () => rng());
  const labels = Int32Array.from({ length: count }, (_, i) => {
    const row = features.subarray(i * 4, i * 4 + 3);
    return row.indexOf(Math.max(...row));
  });
  return { features, labels, count };
}
