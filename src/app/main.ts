/**
 * The Covey app's page: wires the person's data (client/store.ts), the federation client and the trainer
 * worker to the screen. URL parameters: `?shard=N` and `?partition=iid|noniid` pick the sample data,
 * `?backend=webgpu|webgl|cpu` asks for a backend first, `?task=` picks the task (default "digits").
 */
import type { HistoryPoint, TaskSummary } from '../core/protocol.ts';
import { CoordinatorApi } from '../client/coordinator-api.ts';
import { FederationClient, type FederationEvent } from '../client/federation-client.ts';
import { loadSampleShard, shardCount, type Partition } from '../client/sample-data.ts';
import { ExampleStore } from '../client/store.ts';
import { WorkerBridge } from '../client/worker-bridge.ts';
import { BACKEND_NAMES, type BackendName } from '../worker/protocol.ts';
import { renderAccuracyChart } from './accuracy-chart.ts';
import { DrawPad } from './draw-pad.ts';

const params = new URLSearchParams(location.search);
const taskId = params.get('task') ?? 'digits';
const preferred = params.get('backend');
const partition: Partition = params.get('partition') === 'noniid' ? 'noniid' : 'iid';

const $ = <T extends Element = HTMLElement>(id: string) => document.getElementById(id) as unknown as T;
const api = new CoordinatorApi(location.origin);
const store = await ExampleStore.open();
const bridge = new WorkerBridge(
  () => new Worker(new URL('../worker/trainer.worker.ts', import.meta.url), { type: 'module', name: 'covey-trainer' }),
  BACKEND_NAMES.includes(preferred as BackendName) ? (preferred as BackendName) : undefined,
);
const pad = new DrawPad($<HTMLCanvasElement>('pad'));
let task: TaskSummary | undefined;
let session: AbortController | undefined;
let contributions = 0;

function log(message: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${message}`;
  $('log').prepend(li);
  while ($('log').childElementCount > 50) $('log').lastElementChild!.remove();
}

function say(id: string, text: string): void {
  $(id).textContent = text;
}

async function refreshCounts(): Promise<void> {
  const counts = await store.countByLabel(taskId);
  const labels = task?.labels ?? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
  $('label-counts').replaceChildren(
    ...labels.map((name, i) => {
      const li = document.createElement('li');
      li.dataset.label = name;
      li.innerHTML = `<b></b>${name}`;
      li.querySelector('b')!.textContent = String(counts.get(i) ?? 0);
      return li;
    }),
  );
  say('example-total', String([...counts.values()].reduce((a, b) => a + b, 0)));
}

async function refreshTask(): Promise<void> {
  try {
    task = await api.task(taskId);
    say('task-name', `${task.name}: ${task.description}`);
    say('connection', 'coordinator online');
    say('model-version', `v${task.modelVersion}`);
    const history: HistoryPoint[] = await api.history(taskId);
    renderAccuracyChart($<SVGSVGElement>('chart'), history);
    const last = history.filter((p) => p.accuracy !== null).at(-1);
    if (last) say('accuracy', `${(last.accuracy! * 100).toFixed(1)} %`);
  } catch (e) {
    say('connection', navigator.onLine ? 'coordinator unreachable' : 'offline');
    if (!task) say('task-name', e instanceof Error ? e.message : String(e));
  }
}

function onFederationEvent(e: FederationEvent): void {
  switch (e.type) {
    case 'phase':
      say('phase', e.message);
      if (e.phase !== 'training') $<HTMLProgressElement>('progress').value = 0;
      break;
    case 'backend': {
      const { backend, detail, fallbacks } = e.report;
      say('backend', `backend: ${backend}`);
      $('backend').dataset.backend = backend;
      $('backend').title = detail ?? '';
      say('fallbacks', fallbacks.map((f) => `${f.backend} not used: ${f.reason}`).join(' · '));
      log(`Training on ${backend}${detail ? ` (${detail})` : ''}`);
      break;
    }
    case 'round':
      say('round', String(e.roundId));
      log(`Assigned to round ${e.roundId} (model v${e.modelVersion})`);
      break;
    case 'progress':
      $<HTMLProgressElement>('progress').value = e.fraction;
      say('phase', `Training: epoch ${e.epoch}/${e.epochs}, loss ${e.loss.toFixed(3)}`);
      break;
    case 'contributed':
      contributions += 1;
      say('contributions', String(contributions));
      log(`Round ${e.roundId}: sent ${(e.bytes / 1024).toFixed(0)} kB from ${e.numExamples} examples, loss ${e.loss.toFixed(3)}, ${(e.trainMs / 1000).toFixed(1)} s${e.ack.duplicate ? ' (already counted)' : ''}`);
      void refreshTask();
      break;
    case 'error':
      log(`Problem: ${e.message}`);
      break;
  }
}

async function toggleJoin(): Promise<void> {
  const button = $<HTMLButtonElement>('join');
  if (session) {
    session.abort(new DOMException('Left the federation', 'AbortError'));
    session = undefined;
    button.textContent = 'Join';
    say('phase', 'Not joined.');
    return;
  }
  if ((await store.count(taskId)) === 0) {
    say('phase', 'Add some examples first: draw digits or load sample data.');
    return;
  }
  session = new AbortController();
  button.textContent = 'Leave';
  const client = new FederationClient({ api, store, bridge, taskId, featureScale: 1 / 255, onEvent: onFederationEvent });
  client.run(session.signal).catch((e: unknown) => {
    log(`Stopped: ${e instanceof Error ? e.message : String(e)}`);
    session = undefined;
    button.textContent = 'Join';
  });
}

async function loadSample(): Promise<void> {
  const button = $<HTMLButtonElement>('load-sample');
  button.disabled = true;
  try {
    const requested = params.get('shard');
    const shard = requested !== null ? Number(requested) : Math.floor(Math.random() * (await shardCount(location.origin, partition)));
    const loaded = await loadSampleShard(store, location.origin, taskId, partition, shard);
    say('data-message', `Added ${loaded.examples} sample digits (${loaded.partition} shard ${loaded.shard}, labels ${loaded.labels.join(', ')}).`);
    await refreshCounts();
  } catch (e) {
    say('data-message', `Could not load sample data: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    button.disabled = false;
  }
}

async function saveDrawing(label: number): Promise<void> {
  const pixels = pad.toDigit();
  if (!pixels) return say('data-message', 'Draw a digit first.');
  await store.add([{ taskId, label, pixels, source: 'drawn', addedAt: Date.now() }]);
  pad.clear();
  say('data-message', `Saved a drawing of ${label}.`);
  await refreshCounts();
}

async function deleteAll(): Promise<void> {
  if (!confirm('Delete every example you stored for this task? This cannot be undone.')) return;
  await store.deleteTask(taskId);
  say('data-message', 'All your examples for this task are deleted.');
  await refreshCounts();
}

$('label-buttons').replaceChildren(
  ...Array.from({ length: 10 }, (_, label) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = String(label);
    b.title = `Save the drawing as ${label}`;
    b.dataset.testid = `label-${label}`;
    b.addEventListener('click', () => void saveDrawing(label));
    return b;
  }),
);
$('clear-pad').addEventListener('click', () => pad.clear());
$('load-sample').addEventListener('click', () => void loadSample());
$('delete-all').addEventListener('click', () => void deleteAll());
$('join').addEventListener('click', () => void toggleJoin());

await refreshTask();
await refreshCounts();
setInterval(() => void refreshTask(), 5_000);
