/** Where the benchmarks find the app's build with the benchmark page in it (`npm run build:bench`). */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** `.bench-app/`, checked: the app's own build (dist/) does not carry the benchmark page. */
export function benchAppDir(): string {
  const dir = resolve('.bench-app');
  if (!existsSync(join(dir, 'bench', 'page.html'))) throw new Error('the benchmark page is not built: run `npm run build && npm run build:bench` (`npm run bench` does both)');
  return dir;
}
