/**
 * "Your data and this device": how much the browser lets Covey keep and whether it may evict it, export and
 * import of the person's examples, and deleting everything Covey stored here.
 */
import { featureCount } from '../core/features.ts';
import type { TaskSummary } from '../core/protocol.ts';
import { MODEL_CACHE } from '../sw/messages.ts';
import { StorageFullError, type CoveyStore } from '../client/store.ts';
import { $, errorText, formatBytes, say } from './dom.ts';

export interface StoragePanelOptions {
  store: CoveyStore;
  taskId: string;
  /** The task, once known (from the coordinator or the copy kept for offline use). */
  task: () => TaskSummary | undefined;
  onChange: () => void;
  /** Called before everything is deleted, to stop what uses the store. */
  beforeWipe: () => Promise<void>;
  /** Called after everything was deleted; the store is closed by then. */
  onWiped: () => void;
}

export class StoragePanel {
  constructor(private readonly o: StoragePanelOptions) {
    $('export').addEventListener('click', () => void this.exportExamples());
    $<HTMLInputElement>('import-file').addEventListener('change', (e) => void this.importExamples(e.target as HTMLInputElement));
    $('delete-everything').addEventListener('click', () => void this.deleteEverything());
  }

  /** Asks the browser not to evict Covey's data under storage pressure (granted silently to installed apps). */
  async requestPersistence(): Promise<void> {
    if (!navigator.storage?.persist) return;
    if (!(await navigator.storage.persisted())) await navigator.storage.persist();
    await this.refresh();
  }

  async refresh(): Promise<void> {
    if (!navigator.storage?.estimate) {
      say('storage-usage', 'Storage: this browser does not say how much is used.');
      return;
    }
    const { usage = 0, quota = 0 } = await navigator.storage.estimate();
    say('storage-usage', `Storage: ${formatBytes(usage)} used of ${formatBytes(quota)} this browser allows Covey.`);
    const persisted = await navigator.storage.persisted?.();
    say('storage-persisted', persisted ? 'Persistent: the browser will not clear this data on its own.' : 'Not persistent: the browser may clear this data when space runs low.');
  }

  private async exportExamples(): Promise<void> {
    const task = this.o.task();
    if (!task) return say('storage-message', 'The task is not known yet: connect to the coordinator first.');
    const examples = await this.o.store.readExamples(this.o.taskId);
    // The file format loads when a person exports or imports, not with the page.
    const format = await import('../client/examples-file.ts').catch((e: unknown) => say('storage-message', `Could not export: ${errorText(e)}; reload the page`));
    if (!format) return;
    const { serializeExamples } = format;
    const blob = new Blob([serializeExamples(this.o.taskId, featureCount(task.input), examples)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `covey-${this.o.taskId}-examples.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    say('storage-message', `Exported ${examples.length} examples.`);
  }

  private async importExamples(input: HTMLInputElement): Promise<void> {
    const file = input.files?.[0];
    input.value = '';
    const task = this.o.task();
    if (!file || !task) return;
    try {
      const { parseExamplesFile } = await import('../client/examples-file.ts');
      const examples = parseExamplesFile(await file.text(), { taskId: this.o.taskId, featureCount: featureCount(task.input), labelCount: task.labels.length });
      await this.o.store.add(examples);
      say('storage-message', `Imported ${examples.length} examples from ${file.name}.`);
    } catch (e) {
      say('storage-message', e instanceof StorageFullError ? e.message : `Nothing imported from ${file.name}: ${errorText(e)}`);
    }
    this.o.onChange();
    await this.refresh();
  }

  private async deleteEverything(): Promise<void> {
    if (!confirm('Delete everything Covey stored in this browser: your examples, updates not yet sent, your client id and the downloaded models?')) return;
    await this.o.beforeWipe();
    await this.o.store.deleteEverything();
    await caches.delete(MODEL_CACHE);
    this.o.onWiped();
  }
}
