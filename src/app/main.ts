/**
 * The Covey app's page: wires the person's data (client/store.ts), the outbox, the federation client and
 * the trainer worker to the screens. URL parameters: `?shard=N` and `?partition=iid|noniid` pick the sample
 * data, `?backend=webgpu|webgl|cpu` asks for a backend first, `?task=` picks the task (default "digits").
 */
import { isTaskSummary, modelPaths, type TaskSummary } from '../core/protocol.ts';
import { CoordinatorApi } from '../client/coordinator-api.ts';
import { addDownload } from '../client/traffic.ts';
import { Outbox } from '../client/outbox.ts';
import { CoveyStore } from '../client/store.ts';
import { LazyBridge } from './lazy-bridge.ts';
import { BACKEND_NAMES, type BackendName } from '../worker/protocol.ts';
import { DataPanel } from './data-panel.ts';
import { $, errorText, log, say } from './dom.ts';
import { FederationPanel } from './federation-panel.ts';
import { PrivacyPanel } from './privacy-panel.ts';
import { StoragePanel } from './storage-panel.ts';
import { setUpInstallButton } from './install-button.ts';

/**
 * Loaded after the page is up, not with it: the model download (with the delta and int8 codecs) and the
 * service worker's registration (Workbox).
 */
const models = () => import('../client/model-download.ts');
const pwa = () => import('./pwa.ts');
const requestOutboxSync = () => pwa().then((m) => m.requestOutboxSync(), () => undefined);

const params = new URLSearchParams(location.search);
const taskId = params.get('task') ?? 'digits';
const preferred = params.get('backend');

say('build', `build ${__COVEY_BUILD__}`);
// Before anything is awaited: the browser may offer installation early.
setUpInstallButton();
const store = await CoveyStore.open();
const api = new CoordinatorApi(location.origin, store);
let task: TaskSummary | undefined;
let prefetchedVersion = -1;

const bridge = new LazyBridge(
  () => new Worker(new URL('../worker/trainer.worker.ts', import.meta.url), { type: 'module', name: 'covey-trainer' }),
  BACKEND_NAMES.includes(preferred as BackendName) ? (preferred as BackendName) : undefined,
);
const outbox = new Outbox(store, api, { onEvent: (e) => federation.onDelivery(e) });
const privacy = new PrivacyPanel(store, taskId);
// The settings for when this device trains load just after the page (they read the Battery and Network APIs).
const conditions = import('./conditions-panel.ts').then(async ({ ConditionsPanel }) => {
  const panel = new ConditionsPanel(store);
  await panel.start(); // its list is built before anything is shown in it
  return panel;
});
conditions.catch((e: unknown) => log(`Could not show the training conditions: ${errorText(e)}`));
const federation = new FederationPanel({ api, store, bridge, outbox, taskId, onTask: showTask, onQueued: () => void requestOutboxSync(), onTraffic: () => void privacy.refresh(), onConditions: (states) => void conditions.then((c) => c.showStates(states), () => undefined) });
const data = new DataPanel({
  store,
  taskId,
  partition: params.get('partition') === 'noniid' ? 'noniid' : 'iid',
  shard: params.get('shard') !== null ? Number(params.get('shard')) : null,
  onChange: () => void storage.requestPersistence(),
  predict: async (pixels) => {
    if (!task || task.input.kind !== 'image') return null;
    const t = task;
    const scale = t.input.kind === 'image' ? t.input.scale : 1;
    const features = () => Float32Array.from(pixels, (v) => v * scale).buffer;
    const url = new URL(modelPaths(t.id, t.modelVersion, t.lineage).modelJson, location.origin).href;
    // The version this browser holds, when it is the current one: nothing to download, and it works offline.
    const held = await (await models()).heldModel(store, t, t.modelVersion);
    const model = held && { topology: held.topology, weightSpecs: held.weightSpecs, weights: held.weights.slice().buffer };
    const [shared] = await bridge.predict({ modelUrl: url, ...(model ? { model } : {}), inputShape: t.inputShape, features: features(), count: 1 });
    const mine = await store.personalModel(t.id);
    if (!shared || !mine || mine.lineage !== t.lineage) return shared ? { shared } : null;
    const [personal] = await bridge.predict({ modelUrl: url, ...(held ? { model: { ...model!, weights: held.weights.slice().buffer } } : {}), inputShape: t.inputShape, features: features(), count: 1, weights: mine.weights.slice().buffer });
    return { shared, ...(personal ? { personal } : {}) };
  },
});
const storage = new StoragePanel({
  store,
  taskId,
  task: () => task,
  onChange: () => void data.refresh(),
  // Nothing may write to the store while it is deleted: stop the session and the outbox's schedule first.
  beforeWipe: async () => {
    outbox.stop();
    await federation.close();
    // A probe still running in the worker would write its choice into the database being deleted.
    bridge.terminate();
  },
  onWiped: () => location.replace(`${location.pathname}?deleted=1`),
});

function showTask(t: TaskSummary): void {
  task = t;
  data.setTask(t);
  say('task-name', `${t.name}: ${t.description}`);
  say('model-version', `v${t.modelVersion}`);
  privacy.show(t);
  void conditions.then((c) => c.showTask(t), () => undefined);
}

function showConnection(online: boolean): void {
  const text = online ? 'coordinator online' : navigator.onLine ? 'coordinator unreachable' : 'offline';
  say('connection', text);
  $('connection').dataset.state = online ? 'online' : 'offline';
}

/**
 * Keeps the current global model in IndexedDB as it changes (a difference from the version held, when the
 * coordinator has it), so that the person can train offline and predict with it, and the round that trains
 * it downloads nothing more. Not right after "delete everything": nothing is stored again until the person
 * uses the app.
 */
const justWiped = params.has('deleted');
async function prefetchModel(t: TaskSummary): Promise<void> {
  if (justWiped || t.modelVersion === prefetchedVersion) return;
  const got = await (await models()).downloadModel(api, store, t, t.modelVersion);
  if (got.bytes > 0) await store.recordTraffic(t.id, (l) => addDownload(l, t.round?.id ?? 0, got.via, got.bytes));
  prefetchedVersion = t.modelVersion;
  await federation.refreshTraffic();
}

async function refreshTask(): Promise<void> {
  try {
    const t = await api.task(taskId);
    await store.putSetting(`task:${taskId}`, t);
    showTask(t);
    showConnection(true);
    await federation.refreshHistory(t);
    await prefetchModel(t);
  } catch (e) {
    showConnection(false);
    const cached = task ? undefined : await store.setting(`task:${taskId}`, isTaskSummary);
    if (cached) showTask(cached);
    else if (!task) say('task-name', `Covey (${errorText(e)})`);
  }
}

/** Sends what waits in the outbox now (at start, whenever the network comes back); the outbox retries on its own. */
async function deliverOutbox(): Promise<void> {
  await outbox.deliver({ force: true });
  await federation.refreshOutbox();
  await federation.refreshTraffic();
}

if (params.has('deleted')) {
  say('storage-message', 'Everything Covey stored in this browser is deleted.');
  history.replaceState(null, '', location.pathname);
}
void pwa()
  .then((m) =>
    m.startPwa({
      onBroadcast: (b) => federation.onDelivery(b.event, 'in the background'),
      onFirstControl: () => void keepFirstModel(),
    }),
  )
  .catch((e: unknown) => log(`The offline app could not be set up: ${errorText(e)}`));

/**
 * A first visit: the service worker took control after this page may have downloaded its model. Asking for
 * the model again now goes through the worker, which keeps it in the model cache (the browser's HTTP cache
 * answers, so nothing crosses the network twice).
 */
async function keepFirstModel(): Promise<void> {
  const t = task;
  if (!t) return;
  for (const version of new Set([t.round?.baseVersion, t.modelVersion])) {
    if (version === undefined || !(await (await models()).heldModel(store, t, version))) continue;
    const paths = modelPaths(t.id, version, t.lineage);
    await Promise.all([fetch(paths.modelJson), fetch(paths.weights)]).catch(() => undefined);
  }
}
addEventListener('online', () => void Promise.all([refreshTask(), deliverOutbox()]));
addEventListener('offline', () => showConnection(false));

await data.refresh();
await refreshTask();
await Promise.all([deliverOutbox(), storage.refresh()]);
await federation.resume();
setInterval(() => void refreshTask(), 5_000);
