/**
 * `npm run covey -- <command>`: operator commands.
 *
 *   task add <file.json>       check a task file completely and register it (used from the next start)
 *   task validate <file.json>  check a task file without registering it
 *   task list                  the tasks the coordinator will run
 *   privacy epsilon --q 0.01 --noise 1.1 --rounds 1000 [--delta 1e-5]
 *                              ε of a differentially private configuration (--epsilon E instead of
 *                              --noise: the noise multiplier a target ε needs); see privacy-cli.ts
 *
 * COVEY_DATA_DIR (./data) says where registered tasks are kept.
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ValidationError } from '../core/validate.ts';
import { privacyCommand, UsageError } from './privacy-cli.ts';
import { addTask, loadTasks } from './task-registry.ts';
import { loadTaskFile } from './task-file.ts';

tf.env().set('PROD', true);
const root = resolve(import.meta.dirname, '..', '..');
const dataDir = resolve(process.env.COVEY_DATA_DIR ?? join(root, 'data'));
const registry = join(dataDir, 'tasks');
const [group, command, file] = process.argv.slice(2);

async function main(): Promise<number> {
  if (group === 'privacy') {
    console.log(privacyCommand(process.argv.slice(3)));
    return 0;
  }
  if (group === 'task' && command === 'add' && file) {
    const task = await addTask(file, registry);
    console.log(`Task "${task.id}" (${task.name}) is valid and registered in ${registry}. Restart the coordinator to run it.`);
    return 0;
  }
  if (group === 'task' && command === 'validate' && file) {
    const task = loadTaskFile(file);
    const test = task.loadTestSet?.();
    (await task.buildModel(1)).dispose();
    console.log(`Task "${task.id}" is valid: ${task.labels.length} labels, ${test ? `${test.count} held-out examples` : 'no held-out set (federated evaluation only)'}.`);
    return 0;
  }
  if (group === 'task' && command === 'list') {
    for (const t of loadTasks([join(root, 'tasks'), registry])) console.log(`${t.id.padEnd(16)} ${t.name} (${t.metrics.join(', ')}; rounds of ${t.rounds.targetClients})`);
    return 0;
  }
  console.error('usage: npm run covey -- task add <file.json> | task validate <file.json> | task list | privacy epsilon …');
  return 2;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof ValidationError ? `Invalid task file: ${e.message}` : e instanceof Error ? e.message : String(e));
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
