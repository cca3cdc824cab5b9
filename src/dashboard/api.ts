/**
 * The dashboard's side of the operator API: every request carries the operator's token, which comes from
 * the link `npm start` prints (`/dashboard#token=…`, a fragment, so it is never sent to the server nor
 * logged) or from the form, and is kept for this tab only (sessionStorage).
 */
import type { OperatorTaskAdded, OperatorTaskLine, OperatorTaskView } from '../core/operator.ts';
import type { ApiError } from '../core/protocol.ts';

const KEY = 'covey-operator-token';

/** Refused for want of the right token: the page asks for it. */
export class Unauthorized extends Error {}

/** The operator API's refusal, with the field it names. */
export class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function takeTokenFromUrl(): void {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  if (token) {
    setToken(token);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

export const token = (): string | null => sessionStorage.getItem(KEY);
export const setToken = (t: string): void => sessionStorage.setItem(KEY, t.trim());
export const forgetToken = (): void => sessionStorage.removeItem(KEY);

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  const t = token();
  if (!t) throw new Unauthorized('no token');
  const res = await fetch(`/v1/operator${path}`, { ...init, cache: 'no-store', headers: { ...(init.headers as Record<string, string> | undefined), authorization: `Bearer ${t}` } });
  if (res.status === 401) throw new Unauthorized('the token was refused');
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as ApiError | null;
    throw new Refused(res.status, body?.error.code ?? 'http_error', body?.error.message ?? `HTTP ${res.status}`, body?.error.field);
  }
  return res;
}

export const listTasks = async (): Promise<OperatorTaskLine[]> => (await call('/tasks')).json() as Promise<OperatorTaskLine[]>;
export const taskView = async (id: string): Promise<OperatorTaskView> => (await call(`/tasks/${encodeURIComponent(id)}`)).json() as Promise<OperatorTaskView>;
export const setPaused = async (id: string, paused: boolean): Promise<void> => void (await call(`/tasks/${encodeURIComponent(id)}/${paused ? 'pause' : 'resume'}`, { method: 'POST' }));
export const putTask = async (json: unknown): Promise<OperatorTaskAdded> =>
  (await call('/tasks', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) })).json() as Promise<OperatorTaskAdded>;

/** Saves a model version's zip: fetched with the token, handed to the browser as a download. */
export async function downloadVersion(id: string, version: number): Promise<void> {
  const blob = await (await call(`/tasks/${encodeURIComponent(id)}/models/${version}/download`)).blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${id}-v${version}.zip`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
