/**
 * Where the coordinator finds its tasks: the task files shipped in `tasks/`, and those an operator added
 * with `npm run covey -- task add` (kept in `<data dir>/tasks/`). Added tasks replace shipped ones of the
 * same id.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { inputShape } from '../core/features.ts';
import { ValidationError } from '../core/validate.ts';
import { loadTaskFile, parseTaskFile, readTaskJson } from './task-file.ts';
import type { TaskDefinition } from './task.ts';

export function taskFiles(dirs: readonly string[]): string[] {
  const byId = new Map<string, string>();
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) byId.set(name, join(dir, name));
  }
  return [...byId.values()];
}

export function loadTasks(dirs: readonly string[]): TaskDefinition[] {
  return taskFiles(dirs).map((file) => {
    try {
      return loadTaskFile(file);
    } catch (e) {
      if (e instanceof ValidationError) throw new Error(`task file ${file}: ${e.message}`, { cause: e });
      throw e;
    }
  });
}

/**
 * Checks a task file completely (fields, model, held-out set) and copies it into `registryDir` as
 * `<id>.json`, its relative paths made absolute so that it still works from there.
 */
export async function addTask(file: string, registryDir: string): Promise<TaskDefinition> {
  return addTaskJson(readTaskJson(file), dirname(resolve(file)), registryDir);
}

/** {@link addTask} for a task file's parsed JSON, its relative paths taken from `baseDir`. */
export async function addTaskJson(json: unknown, baseDir: string, registryDir: string): Promise<TaskDefinition> {
  const task = await checkTask(json, baseDir);
  const copy = structuredClone(json) as { model: { layersModel?: string }; evaluation?: { testSet?: string } };
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (copy.model.layersModel) copy.model.layersModel = absolute(copy.model.layersModel);
  if (copy.evaluation?.testSet) copy.evaluation.testSet = absolute(copy.evaluation.testSet);
  mkdirSync(registryDir, { recursive: true });
  const target = join(registryDir, `${task.id}.json`);
  if (existsSync(target)) copyFileSync(target, `${target}.previous`);
  writeFileSync(target, JSON.stringify(copy, null, 2) + '\n');
  return task;
}

/**
 * For task files sent over the operator API: the files they name (a layers model's `.json`, a test set's
 * `.bin` or `.csv`) must lie under one of `roots` (the coordinator's folder and its data directory), so
 * that the API cannot be made to read anything else on the machine. Throws a ValidationError naming the
 * field.
 */
export function checkTaskPaths(json: unknown, baseDir: string, roots: readonly string[]): void {
  const o = (json ?? {}) as { model?: { layersModel?: unknown }; evaluation?: { testSet?: unknown } };
  const check = (value: unknown, field: string, suffix: RegExp, kind: string) => {
    if (typeof value !== 'string') return; // the field's own check says what is wrong
    const path = resolve(baseDir, value);
    if (!suffix.test(path)) throw new ValidationError(field, `must name a ${kind}`);
    const inside = roots.some((root) => {
      const r = relative(resolve(root), path);
      return r !== '' && !r.startsWith('..') && !isAbsolute(r);
    });
    if (!inside) throw new ValidationError(field, `must lie under the coordinator's folder or its data directory`);
  };
  check(o.model?.layersModel, 'model.layersModel', /\.json$/, 'TF.js layers model (model.json)');
  check(o.evaluation?.testSet, 'evaluation.testSet', /\.(bin|csv)$/, 'records (.bin) or CSV (.csv) file');
}

/** Parses a task file's JSON and builds its model and held-out set, so that every problem is found now; throws a ValidationError naming the field. */
export async function checkTask(json: unknown, baseDir: string): Promise<TaskDefinition> {
  const task = parseTaskFile(json, baseDir);
  let model: Awaited<ReturnType<TaskDefinition['buildModel']>>;
  try {
    model = await task.buildModel(1);
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ValidationError('model', code === 'ENOENT' ? 'names a file that does not exist' : `cannot be built for this task: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    const expected = inputShape(task.input);
    const actual = (model.inputs[0]?.shape ?? []).slice(1);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new ValidationError('model', `takes inputs of shape [${actual.join(', ')}], the task's input is [${expected.join(', ')}]`);
  } finally {
    model.dispose();
  }
  let test: ReturnType<NonNullable<TaskDefinition['loadTestSet']>> | undefined;
  try {
    test = task.loadTestSet?.();
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ValidationError('evaluation.testSet', code === 'ENOENT' ? 'names no file' : `cannot be read (${code ?? 'not in its format'})`);
  }
  if (test && test.count === 0) throw new ValidationError('evaluation.testSet', 'holds no examples');
  return task;
}
