// A worker thread's entry that runs a TypeScript module (workerData.entry) through tsx, as the coordinator
// itself runs: Node 20 does not apply --import loaders to a worker's own entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
