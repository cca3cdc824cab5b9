import { describe, expect, it } from 'vitest';
import { modelPaths, parseCheckinRequest, parseCheckinResponse, parseTaskSummary, parseTrainingConfig, parseUpdateMeta, readApiError } from './protocol.ts';
import { refusedField } from './test-helpers.ts';

describe('protocol guards', () => {
  it('reads a well-formed check-in', () => {
    expect(parseCheckinRequest({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' })).toEqual({ clientId: 'client-0001', exampleCount: 5, backend: 'webgl' });
  });

  it('names the field that is wrong', () => {
    expect(refusedField(() => parseCheckinRequest(null))).toBe('body');
    expect(refusedField(() => parseCheckinRequest({ clientId: 'x', exampleCount: 1 }))).toBe('clientId');
    expect(refusedField(() => parseCheckinRequest({ clientId: 'client-0001', exampleCount: -1 }))).toBe('exampleCount');
    expect(refusedField(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 0, loss: 1 }))).toBe('meta.numExamples');
    expect(refusedField(() => parseUpdateMeta({ clientId: 'client-0001', baseVersion: 0, numExamples: 3, loss: 'NaN' }))).toBe('meta.loss');
    expect(refusedField(() => parseCheckinResponse({ status: 'assigned', config: {} }))).toBe('roundId');
  });

  it('bounds every number and string of an update\'s metadata', () => {
    const meta = { clientId: 'client-0001', baseVersion: 0, numExamples: 3, loss: 1 };
    expect(parseUpdateMeta({ ...meta, loss: 9_999, trainMs: 1_000, accuracy: 1, backend: 'webgl', lineage: 'abc' })).toMatchObject({ loss: 9_999 });
    expect(refusedField(() => parseUpdateMeta({ ...meta, loss: 1e308 }))).toBe('meta.loss');
    expect(refusedField(() => parseUpdateMeta({ ...meta, numExamples: 1e7 + 1 }))).toBe('meta.numExamples');
    expect(refusedField(() => parseUpdateMeta({ ...meta, trainMs: 1e300 }))).toBe('meta.trainMs');
    expect(refusedField(() => parseUpdateMeta({ ...meta, baseVersion: 2 ** 31 }))).toBe('meta.baseVersion');
    expect(refusedField(() => parseUpdateMeta({ ...meta, accuracy: 1.5 }))).toBe('meta.accuracy');
    expect(refusedField(() => parseUpdateMeta({ ...meta, backend: 'w'.repeat(65) }))).toBe('meta.backend');
    expect(refusedField(() => parseUpdateMeta({ ...meta, lineage: 'line\nbreak' }))).toBe('meta.lineage');
    expect(refusedField(() => parseCheckinRequest({ clientId: 'client-0001', exampleCount: 1e9 }))).toBe('exampleCount');
    expect(parseUpdateMeta({ ...meta, eval: { accuracy: 0.9, loss: 0.3, count: 15 } }).eval).toEqual({ accuracy: 0.9, loss: 0.3, count: 15 });
    expect(refusedField(() => parseUpdateMeta({ ...meta, eval: { accuracy: 1.1, loss: 0.3, count: 15 } }))).toBe('meta.eval.accuracy');
    expect(refusedField(() => parseUpdateMeta({ ...meta, eval: { accuracy: 0.9, loss: 0.3, count: 0 } }))).toBe('meta.eval.count');
  });

  it('reads an API error body and ignores anything else', () => {
    expect(readApiError({ error: { code: 'x', message: 'y', field: 'z' } })).toEqual({ code: 'x', message: 'y', field: 'z' });
    expect(readApiError({ error: 'nope' })).toBeNull();
    expect(readApiError('text')).toBeNull();
  });

  it('puts the lineage in model URLs, and reads a summary from before lineages (cached offline) without one', () => {
    const paths = modelPaths('digits', 3, 'abc');
    expect([paths.modelJson, paths.weights, paths.deltaFrom(1)]).toEqual(['/v1/tasks/digits/models/3/model.json?lineage=abc', '/v1/tasks/digits/models/3/weights.bin?lineage=abc', '/v1/tasks/digits/models/3/delta-from/1?lineage=abc']);
    const summary = {
      id: 'digits', name: 'Digits', description: '', input: { kind: 'image', shape: [28, 28, 1], scale: 1 / 255 }, inputShape: [28, 28, 1],
      metrics: ['accuracy'], labels: ['0', '1'], modelVersion: 2, parameterCount: 10, round: null,
      config: { epochs: 1, batchSize: 32, learningRate: 0.01, optimizer: 'adam', codec: 'f32' },
    };
    expect(parseTaskSummary({ ...summary, lineage: 'abc' }).lineage).toBe('abc');
    const old = parseTaskSummary(summary);
    expect(old.lineage).toBe('');
    expect(modelPaths(old.id, old.modelVersion, old.lineage).modelJson).toBe('/v1/tasks/digits/models/2/model.json');
    // A paused task says so (the client then trains nothing offline for it); absent, it is not.
    expect(parseTaskSummary({ ...summary, paused: true }).paused).toBe(true);
    expect(old.paused).toBeUndefined();
    expect(() => parseTaskSummary({ ...summary, paused: 'yes' })).toThrow(/paused/);
  });

  it('reads a private task summary’s guarantee, an unbounded ε as null, and refuses a malformed one', () => {
    const summary = {
      id: 'digits', name: 'Digits', description: '', input: { kind: 'image', shape: [28, 28, 1], scale: 1 / 255 }, inputShape: [28, 28, 1],
      metrics: ['accuracy'], labels: ['0', '1'], modelVersion: 2, lineage: 'abc', parameterCount: 10, round: null,
      config: { epochs: 1, batchSize: 4, learningRate: 0.1, optimizer: 'sgd', codec: 'f32', clipNorm: 1 },
    };
    const privacy = { mode: 'central', clipNorm: 1, noiseMultiplier: 1.1, delta: 1e-5, maxEpsilon: 8, epsilon: 1.9, budgetSpent: false };
    expect(parseTaskSummary({ ...summary, privacy }).privacy).toEqual(privacy);
    expect(parseTaskSummary({ ...summary, privacy: { ...privacy, epsilon: null } }).privacy?.epsilon).toBeNull();
    expect(parseTaskSummary({ ...summary, privacy }).config.clipNorm).toBe(1);
    expect(() => parseTaskSummary({ ...summary, privacy: { ...privacy, budgetSpent: 'no' } })).toThrow(/budgetSpent/);
  });
});

describe('a batch left to the device', () => {
  const base = { epochs: 1, learningRate: 0.1, optimizer: 'sgd', codec: 'f32' };
  it('reads "auto" as the default range with 32 where nothing is measured, and a range of the task\'s own', () => {
    expect(parseTrainingConfig({ ...base, batchSize: 'auto' })).toMatchObject({ batchSize: 32, batchRange: [16, 128] });
    expect(parseTrainingConfig({ ...base, batchSize: 'auto', batchRange: [64, 256] })).toMatchObject({ batchSize: 64, batchRange: [64, 256] });
    expect(parseTrainingConfig({ ...base, batchSize: 'auto', batchRange: [4, 8] })).toMatchObject({ batchSize: 8, batchRange: [4, 8] });
    expect(parseTrainingConfig({ ...base, batchSize: 20, batchRange: [8, 64] })).toMatchObject({ batchSize: 20, batchRange: [8, 64] });
    expect(parseTrainingConfig({ ...base, batchSize: 32 })).not.toHaveProperty('batchRange');
  });

  it('refuses a range that is not [min, max] of sane integers, and a fixed batch outside its range', () => {
    for (const batchRange of [[0, 8], [64, 16], [8], [8, 10_000], [8.5, 16], 'wide']) expect(refusedField(() => parseTrainingConfig({ ...base, batchSize: 'auto', batchRange }))).toBe('config.batchRange');
    expect(refusedField(() => parseTrainingConfig({ ...base, batchSize: 4, batchRange: [8, 64] }))).toBe('config.batchSize');
    expect(refusedField(() => parseTrainingConfig({ ...base, batchSize: 'big' }))).toBe('config.batchSize');
  });
});
