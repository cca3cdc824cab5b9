/** The few DOM helpers the screens share. */
export const $ = <T extends Element = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as unknown as T;
};

export function say(id: string, text: string): void {
  $(id).textContent = text;
}

export function log(message: string): void {
  const list = $('log');
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${message}`;
  list.prepend(li);
  while (list.childElementCount > 50) list.lastElementChild!.remove();
}

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
