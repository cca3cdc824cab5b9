/**
 * The browser's side of the HTTP API (core/protocol.ts). Each answer is validated before use; a refusal
 * becomes an {@link ApiRequestError} carrying the coordinator's code and field.
 */
import {
  parseCheckinResponse,
  parseTaskSummary,
  parseUploadAck,
  readApiError,
  type CheckinRequest,
  type CheckinResponse,
  type HistoryPoint,
  type TaskSummary,
  type UploadAck,
} from '../core/protocol.ts';

export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    /** HTTP status, or undefined when the request never got an answer (offline, DNS, CORS). */
    readonly status: number | undefined,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class CoordinatorApi {
  constructor(readonly baseUrl: string) {}

  url(path: string): string {
    return new URL(path, this.baseUrl).href;
  }

  async task(taskId: string, signal?: AbortSignal): Promise<TaskSummary> {
    return parseTaskSummary(await this.request(`/v1/tasks/${encodeURIComponent(taskId)}`, { signal }));
  }

  async history(taskId: string, signal?: AbortSignal): Promise<HistoryPoint[]> {
    const body = await this.request(`/v1/tasks/${encodeURIComponent(taskId)}/history`, { signal });
    if (!Array.isArray(body)) throw new ApiRequestError(undefined, 'bad_response', 'history is not a list');
    return body.filter((p): p is HistoryPoint => typeof p === 'object' && p !== null && typeof (p as HistoryPoint).version === 'number');
  }

  async checkin(taskId: string, req: CheckinRequest, signal?: AbortSignal): Promise<CheckinResponse> {
    const body = await this.request(`/v1/tasks/${encodeURIComponent(taskId)}/checkin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(req),
      signal,
    });
    return parseCheckinResponse(body);
  }

  /** PUTs an update frame to `uploadUrl + updateId`. Safe to repeat: the coordinator counts an id once. */
  async upload(uploadUrl: string, updateId: string, frame: Uint8Array<ArrayBuffer>, signal?: AbortSignal): Promise<UploadAck> {
    const body = await this.request(uploadUrl + encodeURIComponent(updateId), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: frame,
      signal,
    });
    return parseUploadAck(body);
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(this.url(path), init);
    } catch (e) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ApiRequestError(undefined, 'network', `coordinator unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const err = readApiError(body);
      throw new ApiRequestError(response.status, err?.code ?? 'http_error', err?.message ?? `HTTP ${response.status}`, err?.field);
    }
    return body;
  }
}
