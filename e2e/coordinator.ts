/**
 * Starts the real coordinator (`src/coordinator/main.ts`) as a child process on a free loopback port with
 * a fresh data directory, as `npm start` would after a build, and reads its state over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { enrolmentProof, makeSigningKey } from '../src/client/client-key.ts';
import type { EnrolRequest, HistoryPoint, TaskSummary } from '../src/core/protocol.ts';

export interface RunningCoordinator {
  url: string;
  /** The operator's token (COVEY_OPERATOR_TOKEN, made up per start unless the caller gave one). */
  operatorToken: string;
  dataDir: string;
  /** Resolves with the exit code (or signal) when the process ends, whoever ended it. */
  exited: Promise<number | string | null>;
  /** SIGKILL: no shutdown, as in a crash. Keeps the data directory. */
  kill(): Promise<void>;
  /** Everything the process wrote to stdout and stderr so far (its logs). */
  logs(): string;
  history(task?: string): Promise<HistoryPoint[]>;
  task(task?: string): Promise<TaskSummary>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Reuse this data directory (a restart); it is then left in place on stop. */
  dataDir?: string;
}

export async function startCoordinator(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<RunningCoordinator> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'covey-e2e-'));
  const operatorToken = env.COVEY_OPERATOR_TOKEN ?? randomBytes(18).toString('base64url');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/coordinator/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', COVEY_DATA_DIR: dataDir, LOG_LEVEL: 'warn', COVEY_OPERATOR_TOKEN: operatorToken, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let logs = '';
  child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  const url = await waitForUrl(child);
  const get = async <T>(path: string): Promise<T> => (await (await fetch(url + path)).json()) as T;
  return {
    url,
    operatorToken,
    dataDir,
    exited,
    logs: () => logs,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    history: (task = 'digits') => get<HistoryPoint[]>(`/v1/tasks/${task}/history`),
    task: (task = 'digits') => get<TaskSummary>(`/v1/tasks/${task}`),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`coordinator did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Open (http:\/\/localhost:\d+)\//.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!.replace('localhost', '127.0.0.1'));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      process.stderr.write(chunk);
    });
    child.once('exit', (code) => reject(new Error(`coordinator exited with ${code}:\n${output}`)));
  });
}

/** Each simulated client's key pair, made at its first enrolment as a browser would. */
const keys = new Map<string, Promise<CryptoKeyPair>>();

export function clientKey(clientId: string): Promise<CryptoKeyPair> {
  if (!keys.has(clientId)) keys.set(clientId, makeSigningKey());
  return keys.get(clientId)!;
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** Enrols as a browser does: a challenge signed with the client's key (`keyPair`, else its own), or no proof when `keyPair` is null. */
export async function enrol(base: string, clientId: string, task = 'digits', keyPair?: CryptoKeyPair | null, headers: Record<string, string> = {}): Promise<Response> {
  const body: EnrolRequest = { clientId };
  if (keyPair !== null) {
    const res = await postJson(`${base}/v1/tasks/${task}/enrol/challenge`, { clientId }, headers);
    if (!res.ok) return res;
    body.proof = await enrolmentProof(keyPair ?? (await clientKey(clientId)), ((await res.json()) as { challenge: string }).challenge);
  }
  return postJson(`${base}/v1/tasks/${task}/enrol`, body, headers);
}

/** Enrols `clientId` for `task` at the coordinator at `base`; the headers to send with its check-ins and uploads. */
export async function authHeaders(base: string, clientId: string, task = 'digits', headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const res = await enrol(base, clientId, task, undefined, headers);
  if (!res.ok) throw new Error(`enrol ${clientId}: HTTP ${res.status} ${await res.text()}`);
  return { authorization: `Bearer ${((await res.json()) as { token: string }).token}` };
}

/**
 * Training fields for a test about something other than learning (secure aggregation, the backend): one
 * epoch and no personal model, a third of the shipped digits task's local work.
 */
export const QUICK_TRAINING = { epochs: 1, personalization: undefined };

/**
 * A tasks directory (for COVEY_TASKS_DIR) holding the shipped digits task with its upload codec set to
 * `codec` (and a `privacy` block, when given; `more` top-level fields and `training` fields over the
 * shipped ones); its test set is named by absolute path, since the file no longer sits in tasks/.
 */
export function digitsTaskWithCodec(codec: string, privacy?: object, more: Record<string, unknown> = {}, training: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `covey-tasks-${codec.replace(/\W/g, '')}-`));
  const task = JSON.parse(readFileSync('tasks/digits.json', 'utf8')) as { training: { codec: string }; evaluation: { testSet: string }; privacy?: object };
  task.training = { ...task.training, ...training, codec };
  if (privacy) task.privacy = privacy;
  Object.assign(task, more);
  task.evaluation.testSet = resolve('tasks', task.evaluation.testSet);
  writeFileSync(join(dir, 'digits.json'), JSON.stringify(task));
  return dir;
}
