import type * as tf from '@tensorflow/tfjs';
import type { TaskId } from '../core/ids.ts';
import type { TrainingConfig } from '../core/protocol.ts';
import type { ExampleBatch } from '../worker/tf-model.ts';

/** When a round closes. */
export interface RoundPolicy {
  /** Fewest updates a round aggregates; with fewer at the deadline it fails and the model stays. */
  minClients: number;
  /** Updates the round waits for; it closes as soon as it has them. Also the most clients assigned. */
  targetClients: number;
  /** How long a round waits for its clients, from its opening. */
  deadlineMs: number;
}

/** A federated task as the coordinator runs it. */
export interface TaskDefinition {
  id: TaskId;
  name: string;
  description: string;
  /** One example's shape, without the batch dimension. */
  inputShape: number[];
  labels: string[];
  /** The architecture with its initial weights, deterministic for a given seed. */
  buildModel(seed: number): tf.LayersModel;
  training: TrainingConfig;
  rounds: RoundPolicy;
  strategy: string;
  /** Held-out examples, never sent to any client, to evaluate each global model on. */
  loadTestSet(): ExampleBatch;
}
