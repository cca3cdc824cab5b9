/**
 * A federation in simulated time (`npm run sim -- --heterogeneity`, `--mode sync|buffered`): the real
 * `Federation` (synchronous rounds, or buffered aggregation) on a simulated clock, with clients whose speed
 * and online stretches come from devices.ts. What is simulated is only time: every update is really
 * trained (TF.js, as in simulation.ts), framed, and accepted or refused by the coordinator's own checks.
 *
 * Whenever the coordinator has room (a place in the round, or a training slot of a buffer), a random
 * client that is online and idle checks in, as a large population paced by Retry-After would: it trains on
 * the model it was given, for as long as its device takes, and delivers when it is next online. A
 * synchronous round closes at its target (the rest of its over-selected clients deliver late and are
 * refused) or at its deadline; a buffer publishes every K updates, each weighted by its staleness.
 * Each new model version is evaluated on the held-out set at the simulated time it was made (`simTimeS`).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codecFor } from '../core/codecs/index.ts';
import { asWeights } from '../core/ids.ts';
import { createRng } from '../core/rng.ts';
import { frameWithPayload } from '../core/update-frame.ts';
import { subtractWeights } from '../core/vector.ts';
import { ApiFailure } from '../coordinator/api-failure.ts';
import { Federation } from '../coordinator/federation.ts';
import { SqliteStore } from '../coordinator/sqlite-store.ts';
import type { TaskDefinition } from '../coordinator/task.ts';
import { evaluate, readWeights, trainLocally, writeWeights, type ExampleBatch } from '../model/tf-model.ts';
import { Device, type DeviceModel } from './devices.ts';
import type { RoundRecord, SimClient } from './simulation.ts';

export interface TimedOptions {
  task: TaskDefinition;
  clients: SimClient[];
  test: ExampleBatch;
  inputShape: number[];
  devices: DeviceModel;
  seed: number;
  /** Stop at this simulated time (s), or at `maxVersions`. */
  maxSimS: number;
  maxVersions?: number;
  /** Stop once the held-out accuracy reaches this. */
  targetAccuracy?: number;
  signal?: AbortSignal;
}

/** A job in flight: a client training on a version, delivering at `at` (s). */
interface Job {
  at: number;
  client: SimClient;
  roundId: number;
  frame: Uint8Array;
  updateId: string;
}

export async function simulateTimed(opts: TimedOptions, onVersion: (r: RoundRecord) => void): Promise<RoundRecord[]> {
  const { task, clients, test, inputShape } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'covey-timed-'));
  const store = new SqliteStore(join(dir, 'sim.sqlite'), { durable: false });
  const model = await task.buildModel(opts.seed);
  let now = 0; // simulated seconds
  const federation = new Federation(task, await readWeights(model), store, {}, () => Math.round(now * 1000));
  const codec = codecFor(task.training.codec)!;
  const rng = createRng(opts.seed);
  const devices = new Map(clients.map((c, i) => [c.id, new Device(opts.devices, opts.seed * 100_003 + i)]));
  const busy = new Set<string>();
  const jobs: Job[] = [];
  const records: RoundRecord[] = [];
  const classes = task.labels.length;
  let started = 0, refused = 0, jobsDone = 0, lossSum = 0, upBytes = 0, trainedSamples = 0;
  let wallStarted = performance.now();
  const weightsBytes = federation.parameterCount * 4;

  /** Online, idle clients check in while the coordinator has room; each trains at once and is due when its device would finish. */
  const fill = async () => {
    const idle = clients.filter((c) => !busy.has(c.id) && devices.get(c.id)!.isOnline(now));
    while (idle.length > 0) {
      const client = idle.splice(Math.floor(rng() * idle.length), 1)[0]!;
      const answer = federation.checkin({ clientId: client.id, exampleCount: client.train.count });
      if (answer.status !== 'assigned') {
        if (/already contributed|lapsed/.test(answer.reason)) continue; // this client must wait; another may go
        return; // no room
      }
      const global = asWeights(store.modelVector(task.id, answer.modelVersion)!);
      writeWeights(model, global);
      const result = await trainLocally(model, client.train, answer.config, { inputShape, numClasses: classes, seed: Math.floor(rng() * 2 ** 31) });
      const delta = subtractWeights(result.weights, global);
      const meta = { clientId: client.id, baseVersion: answer.modelVersion, numExamples: result.numExamples, loss: Math.min(result.loss, 1e4), lineage: federation.lineage };
      const frame = frameWithPayload(codec, meta, codec.encode(delta));
      const device = devices.get(client.id)!;
      const finished = now + device.jobSeconds(result.numExamples * answer.config.epochs);
      busy.add(client.id);
      jobs.push({ at: device.nextOnline(finished), client, roundId: answer.roundId, frame, updateId: `u${(started += 1)}-${client.id}` });
      lossSum += result.loss;
      trainedSamples += result.numExamples * answer.config.epochs;
    }
  };

  const record = async (version: number) => {
    writeWeights(model, store.latestVersion(task.id)!.weights);
    const held = await evaluate(model, test, inputShape);
    const point = store.history(task.id).find((p) => p.version === version);
    const wallMs = performance.now() - wallStarted;
    const r: RoundRecord = {
      round: version,
      simTimeS: now,
      accuracy: held.accuracy,
      loss: held.loss,
      federatedAccuracy: null,
      federatedLoss: null,
      personalAccuracy: null,
      clients: point?.numClients ?? 0,
      refused,
      clientLoss: jobsDone ? lossSum / jobsDone : 0,
      bytesUp: jobsDone ? upBytes / jobsDone : 0,
      bytesDown: weightsBytes,
      downloads: { held: 0, delta: 0, full: point?.numClients ?? 0 },
      bytesPerDelta: null,
      epsilon: null,
      clipNorm: null,
      wallMs,
      samplesPerSecond: trainedSamples / Math.max(wallMs / 1000, 1e-3),
      ...(point?.staleness ? { staleness: point.staleness } : {}),
    };
    refused = 0;
    lossSum = 0;
    upBytes = 0;
    trainedSamples = 0;
    jobsDone = 0;
    wallStarted = performance.now();
    records.push(r);
    onVersion(r);
    return r;
  };

  try {
    await fill();
    while (now < opts.maxSimS && !opts.signal?.aborted && records.length < (opts.maxVersions ?? Infinity)) {
      // The next thing that happens: a delivery, or a synchronous round's deadline.
      jobs.sort((a, b) => a.at - b.at);
      const round = federation.summary().round!;
      const deadline = !task.rounds.buffer && round.assigned > 0 ? Date.parse(round.deadline) / 1000 : Infinity;
      const next = Math.min(jobs[0]?.at ?? Infinity, deadline);
      if (next === Infinity) {
        // Nobody in flight and nobody online to start: wait for someone to come online.
        const soonest = Math.min(...clients.filter((c) => !busy.has(c.id)).map((c) => devices.get(c.id)!.nextOnline(now)));
        if (!Number.isFinite(soonest)) break;
        now = Math.max(soonest, now + 1e-3);
        await fill();
        continue;
      }
      now = Math.max(now, next);
      const before = federation.modelVersion;
      if (jobs[0] && jobs[0].at <= now) {
        const job = jobs.shift()!;
        busy.delete(job.client.id);
        try {
          federation.acceptUpload(job.roundId, job.updateId, job.frame, job.client.id);
          upBytes += job.frame.byteLength;
          jobsDone += 1;
        } catch (e) {
          if (!(e instanceof ApiFailure)) throw e;
          if (process.env.COVEY_SIM_DEBUG) console.error(now.toFixed(1), e.code, e.message);
          refused += 1;
        }
      }
      await federation.settle();
      for (let v = before + 1; v <= federation.modelVersion; v++) {
        const r = await record(v);
        if (opts.targetAccuracy !== undefined && r.accuracy >= opts.targetAccuracy) return records;
      }
      await fill();
    }
    return records;
  } finally {
    federation.stop();
    model.dispose();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    tf.disposeVariables();
  }
}
