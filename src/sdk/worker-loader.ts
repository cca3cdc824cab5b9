/**
 * Starts the trainer worker from wherever its script lives. Browsers refuse `new Worker(url)` for a script
 * on another origin, so for a cross-origin script the worker starts from a same-origin Blob URL whose only
 * line imports the real script — a module import, which CORS allows when the coordinator says so. The
 * worker's code is the same trainer bundle either way.
 */
export function createTrainerWorker(scriptUrl: string): Worker {
  const url = new URL(scriptUrl, location.href);
  if (url.origin === location.origin) return new Worker(url, { type: 'module', name: 'covey-trainer' });
  const bootstrap = new Blob([`import ${JSON.stringify(url.href)};\n`], { type: 'text/javascript' });
  const blobUrl = URL.createObjectURL(bootstrap);
  try {
    return new Worker(blobUrl, { type: 'module', name: 'covey-trainer' });
  } finally {
    // The worker has fetched its bootstrap by the time it runs; the URL is not needed after the start.
    setTimeout(() => URL.revokeObjectURL(blobUrl), 30_000);
  }
}
