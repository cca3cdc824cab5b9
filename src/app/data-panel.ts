/**
 * "Your examples": drawing and labelling (image tasks), CSV import (tabular tasks), sample data, counts per
 * label, deleting.
 */
import type { TaskSummary } from '../core/protocol.ts';
import type { Partition } from '../client/sample-data.ts';
import { StorageFullError, type CoveyStore } from '../client/store.ts';
import { DrawPad } from './draw-pad.ts';
import { $, errorText, say } from './dom.ts';

export interface DataPanelOptions {
  store: CoveyStore;
  taskId: string;
  partition: Partition;
  /** Sample from `?shard=N`, else null for a random one. */
  shard: number | null;
  onChange: () => void;
  /** Class probabilities of a drawn digit under the shared model (and the person's own, if any); null when there is no model to ask yet. */
  predict?: (pixels: Uint8Array) => Promise<{ shared: Float32Array; personal?: Float32Array } | null>;
}

export class DataPanel {
  private readonly pad = new DrawPad($<HTMLCanvasElement>('pad'));
  private task: TaskSummary | undefined;

  constructor(private readonly o: DataPanelOptions) {
    $('clear-pad').addEventListener('click', () => this.clearPad());
    this.pad.onStrokeEnd = () => void this.showPrediction();
    $('load-sample').addEventListener('click', () => void this.loadSample());
    $('delete-all').addEventListener('click', () => void this.deleteAll());
    $<HTMLInputElement>('import-csv').addEventListener('change', (e) => void this.importCsvFile(e.target as HTMLInputElement));
  }

  /** Shows the ways of adding examples that suit the task. */
  setTask(task: TaskSummary): void {
    const changed = this.task?.id !== task.id || this.task.labels.length !== task.labels.length;
    this.task = task;
    if (!changed) return;
    const tabular = task.input.kind === 'tabular';
    $('draw-section').hidden = tabular;
    $('csv-section').hidden = !tabular;
    $('import-csv-button').hidden = !tabular;
    if (task.input.kind === 'tabular') say('csv-columns', [...task.input.columns.map((c) => c.name), task.input.labelColumn].join(', '));
    $('label-buttons').replaceChildren(...task.labels.map((name, label) => this.labelButton(name, label)));
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const labels = this.task?.labels ?? [];
    const counts = await this.o.store.countByLabel(this.o.taskId, labels.length);
    $('label-counts').replaceChildren(
      ...labels.map((name, i) => {
        const li = document.createElement('li');
        li.dataset.label = name;
        const b = document.createElement('b');
        b.textContent = String(counts.get(i) ?? 0);
        li.append(b, name);
        return li;
      }),
    );
    say('example-total', String(await this.o.store.count(this.o.taskId)));
  }

  private labelButton(name: string, label: number): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name;
    b.title = `Save the drawing as ${name}`;
    b.addEventListener('click', () => void this.saveDrawing(label));
    return b;
  }

  private clearPad(): void {
    this.pad.clear();
    say('prediction', '');
  }

  /** What the shared model makes of the drawing so far: its three likeliest labels. */
  private async showPrediction(): Promise<void> {
    const pixels = this.pad.toDigit();
    if (!pixels || !this.o.predict || !this.task) return;
    const labels = this.task.labels;
    try {
      const answer = await this.o.predict(pixels);
      if (!answer || this.pad.isEmpty) return;
      const top = (probs: Float32Array) =>
        [...probs]
          .map((p, i) => ({ p, i }))
          .sort((a, b) => b.p - a.p)
          .slice(0, 3)
          .map((t) => `${labels[t.i] ?? t.i} (${(t.p * 100).toFixed(0)} %)`)
          .join(', ');
      const personal = answer.personal ? `; your own model sees ${top(answer.personal)}` : '';
      say('prediction', `The shared model (v${this.task.modelVersion}) sees ${top(answer.shared)}${personal}`);
    } catch (e) {
      say('prediction', `The shared model could not be asked: ${errorText(e)}`);
    }
  }

  private async saveDrawing(label: number): Promise<void> {
    const features = this.pad.toDigit();
    if (!features) return say('data-message', 'Draw a digit first.');
    await this.store(async () => {
      await this.o.store.add([{ taskId: this.o.taskId, label, features, source: 'drawn', addedAt: Date.now() }]);
      return `Saved a drawing of ${this.task?.labels[label] ?? label}.`;
    });
    this.clearPad();
  }

  private async importCsvFile(input: HTMLInputElement): Promise<void> {
    const file = input.files?.[0];
    input.value = '';
    const task = this.task;
    if (!file || !task) return;
    await this.store(async () => {
      // Loaded on first use, like the sample data below: neither is needed to open the app.
      const { importCsv } = await import('../client/csv-import.ts');
      return `Imported ${await importCsv(this.o.store, await file.text(), task)} records from ${file.name}.`;
    }, `Nothing imported from ${file.name}`);
  }

  private async loadSample(): Promise<void> {
    const task = this.task;
    if (!task) return say('data-message', 'The task is not known yet: connect to the coordinator first.');
    const button = $<HTMLButtonElement>('load-sample');
    button.disabled = true;
    try {
      await this.store(async () => {
        const { loadSample, sampleCount } = await import('../client/sample-data.ts');
        const index = this.o.shard ?? Math.floor(Math.random() * (await sampleCount(location.origin, task, this.o.partition)));
        return (await loadSample(this.o.store, location.origin, task, this.o.partition, index)).description;
      }, 'Could not load sample data');
    } finally {
      button.disabled = false;
    }
  }

  private async deleteAll(): Promise<void> {
    if (!confirm('Delete every example you stored for this task? This cannot be undone.')) return;
    await this.o.store.deleteTask(this.o.taskId);
    say('data-message', 'All your examples for this task are deleted.');
    await this.refresh();
    this.o.onChange();
  }

  /** Runs a write and reports it; a full disk becomes a clear message, with nothing half-stored. */
  private async store(write: () => Promise<string>, failure = 'Could not store the examples'): Promise<void> {
    try {
      say('data-message', await write());
    } catch (e) {
      say('data-message', e instanceof StorageFullError ? e.message : `${failure}: ${errorText(e)}`);
    }
    await this.refresh();
    this.o.onChange();
  }
}
