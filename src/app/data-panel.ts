/** "Your examples": drawing and labelling, sample data, counts per label, deleting. */
import { loadSampleShard, shardCount, type Partition } from '../client/sample-data.ts';
import { StorageFullError, type CoveyStore } from '../client/store.ts';
import { DrawPad } from './draw-pad.ts';
import { $, errorText, say } from './dom.ts';

export interface DataPanelOptions {
  store: CoveyStore;
  taskId: string;
  labels: () => readonly string[];
  partition: Partition;
  /** Shard from `?shard=N`, else null for a random one. */
  shard: number | null;
  onChange: () => void;
}

export class DataPanel {
  private readonly pad = new DrawPad($<HTMLCanvasElement>('pad'));

  constructor(private readonly o: DataPanelOptions) {
    $('label-buttons').replaceChildren(...Array.from({ length: 10 }, (_, label) => this.labelButton(label)));
    $('clear-pad').addEventListener('click', () => this.pad.clear());
    $('load-sample').addEventListener('click', () => void this.loadSample());
    $('delete-all').addEventListener('click', () => void this.deleteAll());
  }

  async refresh(): Promise<void> {
    const labels = this.o.labels();
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
    say('example-total', String([...counts.values()].reduce((a, b) => a + b, 0)));
  }

  private labelButton(label: number): HTMLButtonElement {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = String(label);
    b.title = `Save the drawing as ${label}`;
    b.addEventListener('click', () => void this.saveDrawing(label));
    return b;
  }

  private async saveDrawing(label: number): Promise<void> {
    const pixels = this.pad.toDigit();
    if (!pixels) return say('data-message', 'Draw a digit first.');
    await this.store(() => this.o.store.add([{ taskId: this.o.taskId, label, pixels, source: 'drawn', addedAt: Date.now() }]), `Saved a drawing of ${label}.`);
    this.pad.clear();
  }

  private async loadSample(): Promise<void> {
    const button = $<HTMLButtonElement>('load-sample');
    button.disabled = true;
    try {
      const shard = this.o.shard ?? Math.floor(Math.random() * (await shardCount(location.origin, this.o.partition)));
      let message = '';
      await this.store(async () => {
        const loaded = await loadSampleShard(this.o.store, location.origin, this.o.taskId, this.o.partition, shard);
        message = `Added ${loaded.examples} sample digits (${loaded.partition} shard ${loaded.shard}, labels ${loaded.labels.join(', ')}).`;
      }, () => message);
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
  private async store(write: () => Promise<void>, done: string | (() => string)): Promise<void> {
    try {
      await write();
      say('data-message', typeof done === 'string' ? done : done());
    } catch (e) {
      say('data-message', e instanceof StorageFullError ? e.message : `Could not store the examples: ${errorText(e)}`);
    }
    await this.refresh();
    this.o.onChange();
  }
}
