/**
 * The operator's dashboard (`/dashboard`): for each task, is it learning (quality by version), who takes
 * part (clients per round, the population and its backends), what goes wrong (refusals by reason, dropped
 * clients, update norms), what it costs (bytes each way, training time); and what the operator can do
 * about it (pause, resume, add or update a task, download a version). Polls the operator API every 2 s.
 */
import type { OperatorRound, OperatorTaskLine, OperatorTaskView } from '../core/operator.ts';
import { $, errorText, formatBytes, say } from '../app/dom.ts';
import { downloadVersion, forgetToken, listTasks, putTask, Refused, setPaused, setToken, takeTokenFromUrl, taskView, Unauthorized } from './api.ts';
import { Chart } from './charts.ts';

const POLL_MS = 2_000;
const percent = (v: number) => `${(v * 100).toFixed(1)} %`;
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const byCount = (o: Record<string, number>) => Object.entries(o).sort((a, b) => b[1] - a[1]);
const list = (o: Record<string, number>) => byCount(o).map(([k, v]) => `${k} ${v}`).join(', ') || '–';
const ms = (v: number) => (v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`);

let selected: string | null = new URLSearchParams(location.search).get('task');
let current: OperatorTaskView | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

const charts = {
  quality: new Chart($('chart-quality'), {
    xLabel: 'version',
    yLabel: 'accuracy / metric',
    yRange: [0, 1],
    formatY: (v) => `${Math.round(v * 100)} %`,
    series: [
      { label: 'held-out', color: '#1f5f4a' },
      { label: 'federated (clients\u2019 own)', color: '#7a5c99', dash: [5, 4] },
    ],
  }),
  epsilon: new Chart($('chart-epsilon'), {
    xLabel: 'version',
    yLabel: 'ε',
    series: [{ label: 'ε (sampled)', color: '#a23b2a' }],
  }),
  clients: new Chart($('chart-clients'), {
    xLabel: 'round',
    yLabel: 'clients',
    series: [
      { label: 'assigned', color: '#1f5f4a' },
      { label: 'reported', color: '#2f7dc0' },
      { label: 'dropped', color: '#a23b2a' },
      { label: 'told to wait', color: '#b08a1e', dash: [4, 3] },
      { label: 'uploads refused', color: '#6b3b8a', dash: [2, 3] },
    ],
  }),
  bytes: new Chart($('chart-bytes'), {
    xLabel: 'version',
    yLabel: 'bytes',
    formatY: formatBytes,
    series: [
      { label: 'updates up (made it)', color: '#2f7dc0' },
      { label: 'model down (sent)', color: '#1f5f4a' },
    ],
  }),
  norms: new Chart($('chart-norms'), {
    xLabel: 'round',
    yLabel: 'L2 norm',
    series: [
      { label: 'max', color: '#a23b2a', dash: [4, 3] },
      { label: 'median', color: '#1f5f4a' },
      { label: 'min', color: '#2f7dc0', dash: [4, 3] },
    ],
  }),
};

function setStatus(text: string, state: 'ok' | 'error' = 'ok'): void {
  const el = $('status');
  el.textContent = text;
  el.dataset.state = state;
}

function showLogin(why: string): void {
  $('board').hidden = true;
  $('login').hidden = false;
  say('login-why', why);
  setStatus('not signed in', 'error');
}

function renderTabs(lines: OperatorTaskLine[]): void {
  const nav = $('tasks');
  nav.replaceChildren(
    ...lines.map((l) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `${l.name}${l.paused ? ' (paused)' : ''}`;
      b.dataset.task = l.id;
      b.setAttribute('aria-current', String(l.id === selected));
      b.addEventListener('click', () => {
        selected = l.id;
        history.replaceState(null, '', `?task=${encodeURIComponent(l.id)}`);
        void refresh();
      });
      return b;
    }),
  );
}

function row(values: (string | Node)[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const v of values) {
    const td = document.createElement('td');
    td.append(v);
    tr.append(td);
  }
  return tr;
}

function render(v: OperatorTaskView): void {
  current = v;
  const t = v.task;
  const headline = t.metrics[0] ?? 'accuracy';
  say('task-title', `${t.name} (${t.id})`);
  $('paused').hidden = !v.paused;
  say('pause', v.paused ? 'Resume' : 'Pause');
  say('s-version', `v${t.modelVersion}`);
  const r = t.round;
  say('s-round-label', r?.buffered ? 'Buffer' : 'Round');
  say('s-round', r ? (r.buffered ? `#${r.id}: ${r.received} of ${r.buffered.size}` : `#${r.id} ${r.state}: ${r.received} of ${r.targetClients} (${r.assigned} assigned)`) : '–');
  say('s-metric-name', headline);
  const evaluated = [...v.versions].reverse().find((x) => (x.metrics[headline] ?? x.accuracy) !== null && (x.metrics[headline] ?? x.accuracy) !== undefined);
  const value = evaluated ? (evaluated.metrics[headline] ?? evaluated.accuracy) : null;
  say('s-metric', value === null || value === undefined ? '–' : `${percent(value)} (v${evaluated!.version})`);
  say('s-clients', `${v.population.lastHour} / ${v.population.lastDay}`);
  say('s-eligible', String(v.population.eligibleLastHour));
  say('s-refused', String(sum(v.refusedTotal)));
  $('s-epsilon-box').hidden = !t.privacy;
  if (t.privacy) say('s-epsilon', t.privacy.epsilon === null ? '∞' : `${t.privacy.epsilon.toFixed(2)}${t.privacy.maxEpsilon ? ` of ${t.privacy.maxEpsilon}` : ''}${t.privacy.budgetSpent ? ' (spent)' : ''}`);
  say('population-note', `Clients, eligibility, check-ins, refusals and bytes sent are counted by this coordinator since ${new Date(v.population.since).toLocaleString()}; versions, rounds and updates come from its store.`);

  const versions = v.versions;
  charts.quality.set(
    versions.map((x) => x.version),
    [versions.map((x) => x.metrics[headline] ?? x.accuracy), versions.map((x) => x.federated?.accuracy ?? null)],
  );
  $('epsilon-card').hidden = !t.privacy;
  if (t.privacy) {
    charts.epsilon.set(
      versions.map((x) => x.version),
      [versions.map((x) => (x.privacy && Number.isFinite(x.privacy.epsilon) ? x.privacy.epsilon : null))],
    );
    say('epsilon-note', `(ε, δ = ${t.privacy.delta}) after each version, from the accountant${t.privacy.maxEpsilon ? `; the task stops at ε = ${t.privacy.maxEpsilon}` : ''}.`);
  }
  const rounds = [...v.rounds].reverse();
  charts.clients.set(
    rounds.map((x) => x.id),
    [rounds.map((x) => x.assigned), rounds.map((x) => x.reported), rounds.map((x) => x.dropped), rounds.map((x) => x.checkins.wait), rounds.map((x) => sum(x.refused))],
  );
  charts.bytes.set(
    versions.map((x) => x.version),
    [versions.map((x) => x.bytesUp), versions.map((x) => x.bytesDown)],
  );
  charts.norms.set(
    rounds.map((x) => x.id),
    [rounds.map((x) => x.norms?.max ?? null), rounds.map((x) => x.norms?.median ?? null), rounds.map((x) => x.norms?.min ?? null)],
  );
  say('norms-note', t.privacy ? 'A private task\u2019s single updates are not described: no norms are kept.' : 'Norms of accepted updates, before any clipping: a jump in the maximum is a sign of a bad or poisoned client.');

  $('rounds-body').replaceChildren(...v.rounds.map(roundRow));
  const config = $('config');
  config.replaceChildren(
    ...Object.entries({ strategy: v.configuration.strategy, 'server optimizer': v.configuration.serverOptimizer ?? 'none (plain averaging)', 'client training': v.configuration.clientOptimizer, codec: v.configuration.codec, privacy: v.configuration.privacy, rounds: v.configuration.rounds, parameters: t.parameterCount.toLocaleString() }).flatMap(([k, val]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = val;
      return [dt, dd];
    }),
  );
  const items = (o: Record<string, number>, empty: string) => {
    const entries = byCount(o);
    if (entries.length === 0) {
      const li = document.createElement('li');
      li.textContent = empty;
      return [li];
    }
    return entries.map(([k, n]) => {
      const li = document.createElement('li');
      li.textContent = `${k}: ${n}`;
      return li;
    });
  };
  $('backends').replaceChildren(...items(v.population.backends, 'nobody in the last hour'));
  $('refusals').replaceChildren(...items(v.refusedTotal, 'none'));
  $('versions-body').replaceChildren(
    ...[...versions].reverse().map((x) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Download';
      b.dataset.testid = `download-v${x.version}`;
      b.addEventListener('click', () => void downloadVersion(t.id, x.version).catch((e: unknown) => setStatus(errorText(e), 'error')));
      const held = x.metrics[headline] ?? x.accuracy;
      return row([`v${x.version}`, new Date(x.createdAt).toLocaleTimeString(), String(x.numClients), held === null || held === undefined ? '–' : percent(held), x.federated ? percent(x.federated.accuracy) : '–', b]);
    }),
  );
}

function roundRow(r: OperatorRound): HTMLTableRowElement {
  const state = r.state === 'closed' ? (r.outcome ?? 'closed') : r.state;
  const tr = row([
    `#${r.id} (v${r.baseVersion})`,
    state,
    `${r.checkins.assigned} / ${r.checkins.wait}`,
    String(r.assigned),
    r.carried > 0 ? `${r.reported} (${r.carried} carried in)` : String(r.reported),
    r.dropped === null ? '–' : String(r.dropped),
    list(r.refused),
    r.bytesUp === null ? '–' : formatBytes(r.bytesUp),
    r.trainMs ? `${ms(r.trainMs.median)} / ${ms(r.trainMs.p90)}` : '–',
    list(r.backends),
  ]);
  tr.dataset.round = String(r.id);
  return tr;
}

async function refresh(): Promise<void> {
  clearTimeout(timer);
  try {
    const lines = await listTasks();
    if (!selected || !lines.some((l) => l.id === selected)) selected = lines[0]?.id ?? null;
    renderTabs(lines);
    if (selected) render(await taskView(selected));
    $('login').hidden = true;
    $('board').hidden = false;
    setStatus(`live · ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    if (e instanceof Unauthorized) {
      showLogin(e.message === 'no token' ? 'This dashboard needs the operator\u2019s token: npm start prints a link with it (it is also in <data dir>/operator-token, or COVEY_OPERATOR_TOKEN).' : 'That token was refused. Enter the operator\u2019s token.');
      return; // no polling until a token is given
    }
    setStatus(`cannot reach the coordinator: ${errorText(e)}`, 'error');
  }
  timer = setTimeout(() => void refresh(), POLL_MS);
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  setToken($<HTMLInputElement>('token').value);
  $<HTMLInputElement>('token').value = '';
  void refresh();
});

$('pause').addEventListener('click', async () => {
  if (!current) return;
  const button = $<HTMLButtonElement>('pause');
  button.disabled = true;
  try {
    await setPaused(current.task.id, !current.paused);
    await refresh();
  } catch (e) {
    setStatus(errorText(e), 'error');
  } finally {
    button.disabled = false;
  }
});

$('task-file').addEventListener('change', async () => {
  const input = $<HTMLInputElement>('task-file');
  const file = input.files?.[0];
  input.value = '';
  if (!file) return;
  const result = $('task-file-result');
  const show = (text: string, state: 'ok' | 'error' | 'busy') => {
    result.textContent = text;
    result.dataset.state = state;
  };
  let json: unknown;
  try {
    json = JSON.parse(await file.text());
  } catch (e) {
    return show(`${file.name}: not JSON (${errorText(e)})`, 'error');
  }
  show(`Checking ${file.name}…`, 'busy');
  try {
    const added = await putTask(json);
    show(`${file.name}: task "${added.id}" ${added.result === 'created' ? 'added and running' : 'updated'}.`, 'ok');
    selected = added.id;
    await refresh();
  } catch (e) {
    // A validation message begins with its field already ("rounds.minClients: must be …").
    if (e instanceof Refused) show(`${file.name}: ${e.field && !e.message.startsWith(e.field) ? `${e.field}: ` : ''}${e.message}`, 'error');
    else if (e instanceof Unauthorized) {
      forgetToken();
      showLogin('That token was refused. Enter the operator\u2019s token.');
    } else show(`${file.name}: ${errorText(e)}`, 'error');
  }
});

takeTokenFromUrl();
void refresh();
// The link with the token opened in a tab already on the dashboard changes only the fragment.
addEventListener('hashchange', () => {
  takeTokenFromUrl();
  void refresh();
});
