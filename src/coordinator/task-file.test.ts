import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { refusedField } from '../core/test-helpers.ts';
import { readWeights } from '../model/tf-model.ts';
import { addTask } from './task-registry.ts';
import { loadTaskFile, parseTaskFile } from './task-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'covey-task-'));
writeFileSync(join(dir, 'test.csv'), 'x,kind,y\n1,a,0\n2,b,1\n3,a,1\n');

const valid = {
  id: 'toy',
  name: 'Toy',
  description: 'A toy task',
  input: { kind: 'tabular', labelColumn: 'y', columns: [{ name: 'x', type: 'numeric', mean: 2, std: 1 }, { name: 'kind', type: 'categorical', values: ['a', 'b'] }] },
  labels: ['no', 'yes'],
  model: { builtin: 'mlp', hidden: [4] },
  training: { epochs: 1, batchSize: 2, learningRate: 0.1, optimizer: 'sgd', codec: 'f32', classWeights: [1, 2] },
  rounds: { minClients: 1, targetClients: 2, deadlineS: 30 },
  strategy: 'fedavg',
  evaluation: { testSet: 'test.csv', format: 'csv', metrics: ['auc', 'accuracy'] },
  allowedOrigins: ['https://shop.example'],
};

const fieldOf = (patch: Record<string, unknown>): string => refusedField(() => parseTaskFile({ ...valid, ...patch }, dir)) ?? 'accepted';

describe('task files', () => {
  it('reads a valid file into a task, test set and model included', async () => {
    const task = parseTaskFile(valid, dir);
    expect(task).toMatchObject({ id: 'toy', labels: ['no', 'yes'], metrics: ['auc', 'accuracy'], rounds: { minClients: 1, targetClients: 2, deadlineMs: 30_000 }, allowedOrigins: ['https://shop.example'] });
    // Without a held-out set the task is measured by federated evaluation alone.
    const withoutTestSet = { ...valid, evaluation: undefined };
    expect(parseTaskFile(withoutTestSet, dir)).toMatchObject({ metrics: ['accuracy'] });
    expect(parseTaskFile(withoutTestSet, dir).loadTestSet).toBeUndefined();
    expect(parseTaskFile({ ...valid, serverOptimizer: { name: 'fedadam', lr: 0.03 } }, dir).serverOptimizer).toEqual({ name: 'fedadam', lr: 0.03, beta1: 0.9, beta2: 0.99, tau: 0.001 });
    expect(parseTaskFile({ ...valid, maxExamplesPerClient: 500, rounds: { ...valid.rounds, assignmentLeaseS: 20 } }, dir)).toMatchObject({ maxExamplesPerClient: 500, rounds: { leaseMs: 20_000 } });
    const test = task.loadTestSet!();
    expect(test.count).toBe(3);
    expect([...test.labels]).toEqual([0, 1, 1]);
    expect([...test.features.subarray(0, 3)]).toEqual([-1, 1, 0]);
    const model = await task.buildModel(1);
    expect(model.inputs[0]!.shape).toEqual([null, 3]);
    expect(model.outputs[0]!.shape).toEqual([null, 2]);
  });

  it.each([
    [{ id: 'Bad Id' }, 'id'],
    [{ labels: ['only'] }, 'labels'],
    [{ input: { kind: 'video' } }, 'input.kind'],
    [{ model: { builtin: 'resnet' } }, 'model.builtin'],
    [{ model: { builtin: 'mlp', hidden: [0] } }, 'model.hidden'],
    [{ model: { layersModel: 'missing/model.json' } }, 'model.layersModel'],
    [{ training: { ...valid.training, optimizer: 'rmsprop' } }, 'config.optimizer'],
    [{ training: { ...valid.training, codec: 'zip' } }, 'training.codec'],
    [{ training: { ...valid.training, classWeights: [1] } }, 'training.classWeights'],
    [{ rounds: { minClients: 3, targetClients: 2, deadlineS: 30 } }, 'rounds.minClients'],
    [{ strategy: 'fedmagic' }, 'strategy'],
    [{ strategy: { name: 'median', clipNorm: -1 } }, 'strategy.clipNorm'],
    [{ maxUpdateNorm: 0 }, 'maxUpdateNorm'],
    [{ maxExamplesPerClient: 0 }, 'maxExamplesPerClient'],
    [{ serverOptimizer: 'sgdm' }, 'serverOptimizer'],
    [{ serverOptimizer: { name: 'fedadam', beta2: 1 } }, 'serverOptimizer.beta2'],
    [{ maxExamplesPerClient: 2.5 }, 'maxExamplesPerClient'],
    [{ rounds: { minClients: 1, targetClients: 2, deadlineS: 30, assignmentLeaseS: 31 } }, 'rounds.assignmentLeaseS'],
    [{ evaluation: { ...valid.evaluation, format: 'records' } }, 'evaluation.format'],
    [{ evaluation: { ...valid.evaluation, metrics: ['precision'] } }, 'evaluation.metrics'],
    [{ allowedOrigins: ['https://shop.example/path'] }, 'allowedOrigins[0]'],
  ])('refuses %j, naming %s', (patch, field) => {
    expect(fieldOf(patch)).toBe(field);
  });

  it('loads a TF.js layers model from disk (model.json and its weight file), weights included', async () => {
    const source = await parseTaskFile(valid, dir).buildModel(7);
    const modelDir = join(dir, 'exported');
    mkdirSync(modelDir, { recursive: true });
    await source.save(
      tf.io.withSaveHandler(async (artifacts) => {
        writeFileSync(join(modelDir, 'group1-shard1of1.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
        writeFileSync(join(modelDir, 'model.json'), JSON.stringify({ modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }] }));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const task = parseTaskFile({ ...valid, model: { layersModel: 'exported/model.json' } }, dir);
    const loaded = await task.buildModel(1);
    expect([...(await readWeights(loaded))]).toEqual([...(await readWeights(source))]);
  });

  it('reads weight files only beside model.json, and never quotes a file that is not JSON', async () => {
    const modelDir = join(dir, 'escaping');
    mkdirSync(modelDir, { recursive: true });
    writeFileSync(join(dir, 'secret.bin'), 'the secret');
    writeFileSync(join(modelDir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../secret.bin'], weights: [] }] }));
    await expect(parseTaskFile({ ...valid, model: { layersModel: 'escaping/model.json' } }, dir).buildModel(1)).rejects.toThrow(/outside its folder/);
    writeFileSync(join(modelDir, 'not.json'), 'top secret words');
    const refused = parseTaskFile({ ...valid, model: { layersModel: 'escaping/not.json' } }, dir).buildModel(1);
    await expect(refused).rejects.toThrow(/is not readable JSON$/);
  });

  it('reads buffered rounds with their defaults, and refuses what a buffer has not', () => {
    const task = parseTaskFile({ ...valid, rounds: { mode: 'buffered', bufferSize: 5 } }, dir);
    expect(task.rounds).toEqual({ minClients: 5, targetClients: 5, deadlineMs: 300_000, leaseMs: 300_000, buffer: { size: 5, maxStaleness: 10, concurrency: 20, staleness: { kind: 'polynomial', exponent: 0.5 } } });
    const custom = parseTaskFile({ ...valid, rounds: { mode: 'buffered', bufferSize: 3, maxStaleness: 2, concurrency: 7, staleness: { kind: 'hinge', a: 10, b: 4 }, assignmentLeaseS: 60 } }, dir);
    expect(custom.rounds.buffer).toEqual({ size: 3, maxStaleness: 2, concurrency: 7, staleness: { kind: 'hinge', a: 10, b: 4 } });
    expect(custom.rounds.leaseMs).toBe(60_000);
    expect(fieldOf({ rounds: { mode: 'buffered', bufferSize: 5, deadlineS: 30 } })).toBe('rounds.deadlineS');
    expect(fieldOf({ rounds: { mode: 'buffered' } })).toBe('rounds.bufferSize');
    expect(fieldOf({ rounds: { mode: 'buffered', bufferSize: 5, staleness: 'linear' } })).toBe('rounds.staleness');
    expect(fieldOf({ rounds: { mode: 'async', bufferSize: 5 } })).toBe('rounds.mode');
    expect(fieldOf({ rounds: { mode: 'buffered', bufferSize: 5 }, secureAggregation: { clipNorm: 1 } })).toBe('rounds.mode');
    expect(fieldOf({ rounds: { mode: 'buffered', bufferSize: 100 }, privacy: { mode: 'central', clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, adaptiveClipping: true } })).toBe('privacy.adaptiveClipping');
  });

  it('ships valid task files for the demo tasks', () => {
    for (const file of ['tasks/digits.json', 'tasks/fraud.json']) expect(() => loadTaskFile(file)).not.toThrow();
  });

  it('registers a task with absolute paths, after checking its model and test set', async () => {
    const file = join(dir, 'toy.json');
    writeFileSync(file, JSON.stringify(valid));
    const registry = join(dir, 'registry');
    await addTask(file, registry);
    const stored = JSON.parse(readFileSync(join(registry, 'toy.json'), 'utf8')) as typeof valid;
    expect(stored.evaluation.testSet).toBe(join(dir, 'test.csv'));
    expect(loadTaskFile(join(registry, 'toy.json')).loadTestSet!().count).toBe(3);
  });
});
