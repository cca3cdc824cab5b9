/**
 * The operator API's answers (`/v1/operator/…`, behind the operator token), shared by the coordinator and
 * the dashboard page. Only aggregate numbers about clients: ids never leave the coordinator this way.
 */
import type { HistoryPoint, TaskSummary } from './protocol.ts';

export interface OperatorRound {
  id: number;
  baseVersion: number;
  state: string;
  /** 'aggregated' or 'failed' once closed. */
  outcome: string | null;
  openedAt: string;
  closedAt: string | null;
  /** Check-ins answered while this round was open, by answer (this process only). */
  checkins: { assigned: number; wait: number };
  /** Clients that held a place (checked in and assigned, or sent an update unasked). */
  assigned: number;
  /** Updates accepted (for secure aggregation: the clients in the sum). */
  reported: number;
  /** Of `reported`: updates carried in from an earlier round that failed for want of updates. */
  carried: number;
  /**
   * Assigned clients whose update never came, counted once the round is closed (an update carried into the
   * next round counts as come). Null while open, and for buffered tasks, whose leases span buffers.
   */
  dropped: number | null;
  /** Uploads refused, by the error code of the answer (this process only). */
  refused: Record<string, number>;
  /** Bytes of the updates filed under it; null for secure aggregation, whose masked inputs are not stored. */
  bytesUp: number | null;
  /** Client training time, ms, as clients reported it. */
  trainMs: { median: number; p90: number } | null;
  /** Accepted updates by the TF.js backend that trained them. */
  backends: Record<string, number>;
  /** L2 norms of the accepted updates: five-number summary (absent for private tasks, whose updates are not described one by one). */
  norms: { min: number; p25: number; median: number; p75: number; max: number; count: number } | null;
}

export interface OperatorVersion extends HistoryPoint {
  /** Bytes of this version's model sent to clients (full weights and deltas; this process only). */
  bytesDown: number;
  /** Bytes of the updates that made this version. */
  bytesUp: number | null;
}

export interface OperatorPopulation {
  /** Distinct clients that checked in or uploaded within the last hour and the last day (since `since`). */
  lastHour: number;
  lastDay: number;
  /** Of the last hour's: those holding examples, who can be assigned. */
  eligibleLastHour: number;
  /** The last hour's clients by the backend they said they train on. */
  backends: Record<string, number>;
  /** When this process began counting: earlier visits are not known to it. */
  since: string;
}

export interface OperatorTaskView {
  task: TaskSummary;
  paused: boolean;
  /** The task file's training configuration, as the operator wrote it. */
  configuration: {
    strategy: string;
    serverOptimizer: string | null;
    clientOptimizer: string;
    codec: string;
    privacy: string;
    rounds: string;
  };
  versions: OperatorVersion[];
  /** Newest first. */
  rounds: OperatorRound[];
  population: OperatorPopulation;
  /** Uploads refused since this process started, by reason. */
  refusedTotal: Record<string, number>;
}

/** `GET /v1/operator/tasks`: one line per task. */
export interface OperatorTaskLine {
  id: string;
  name: string;
  paused: boolean;
  modelVersion: number;
  round: TaskSummary['round'];
  clientsLastHour: number;
}

/** `PUT /v1/operator/tasks`: what was done with the task file. */
export interface OperatorTaskAdded {
  id: string;
  /** 'created': a new task now running; 'updated': the running task restarted with the new file (its model versions kept). */
  result: 'created' | 'updated';
}
