/**
 * The browser's side of the HTTP API (core/protocol.ts). Each answer is validated before use; a refusal
 * becomes an {@link ApiRequestError} carrying the coordinator's code and field.
 */
import {
  parseChallengeResponse,
  parseCheckinResponse,
  parseEnrolResponse,
  parseTaskSummary,
  parseUploadAck,
  readApiError,
  type CheckinRequest,
  type CheckinResponse,
  type EnrolRequest,
  type EnrolResponse,
  type HistoryPoint,
  type TaskSummary,
  type UploadAck,
} from '../core/protocol.ts';
import { canSign, enrolmentProof } from './client-key.ts';

export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    /** HTTP status, or undefined when the request never got an answer (offline, DNS, CORS). */
    readonly status: number | undefined,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** The server's Retry-After, in seconds, when it sent one (429, 503). */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/** Where the client's id, key and tokens are kept (the CoveyStore's settings). */
export interface CredentialKeeper {
  clientId(): Promise<string>;
  /** The key pair the client proves itself with (client-key.ts). */
  signingKey(): Promise<CryptoKeyPair>;
  setting<T>(key: string, guard: (v: unknown) => v is T): Promise<T | undefined>;
  putSetting(key: string, value: unknown): Promise<void>;
}

interface SavedToken extends EnrolResponse {
  clientId: string;
}

const isSavedToken = (v: unknown): v is SavedToken =>
  typeof v === 'object' && v !== null && ['token', 'expiresAt', 'clientId'].every((k) => typeof (v as Record<string, unknown>)[k] === 'string');

/** Renew a token this long before it expires. */
const RENEW_BEFORE_MS = 24 * 3600_000;

export class CoordinatorApi {
  /** `credentials` are needed for check-ins and uploads (they enrol for a token on first use). */
  constructor(
    readonly baseUrl: string,
    private readonly credentials?: CredentialKeeper,
  ) {}

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
    const body = await this.authorized(taskId, `/v1/tasks/${encodeURIComponent(taskId)}/checkin`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(req),
      signal,
    });
    return parseCheckinResponse(body);
  }

  /** PUTs an update frame to `uploadUrl + updateId`. Safe to repeat: the coordinator counts an id once. */
  async upload(taskId: string, uploadUrl: string, updateId: string, frame: Uint8Array<ArrayBuffer>, signal?: AbortSignal): Promise<UploadAck> {
    const body = await this.authorized(taskId, uploadUrl + encodeURIComponent(updateId), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: frame,
      signal,
    });
    return parseUploadAck(body);
  }

  /**
   * A secure aggregation step of a round (`keys`, `roster`, `shares`, `inbox`, `masked`, `survivors`, `unmask`,
   * `status`): JSON, or 32-bit words for `masked`, with this client's token.
   */
  async secureStep(taskId: string, roundId: number, path: string, init: { method: string; body?: unknown; signal?: AbortSignal }): Promise<unknown> {
    const binary = init.body instanceof Uint32Array;
    const body = init.body === undefined ? undefined : binary ? new Uint8Array((init.body as Uint32Array).slice().buffer) : JSON.stringify(init.body);
    return this.authorized(taskId, `/v1/tasks/${encodeURIComponent(taskId)}/rounds/${roundId}/secagg/${path}`, {
      method: init.method,
      ...(body === undefined ? {} : { headers: { 'content-type': binary ? 'application/octet-stream' : 'application/json' }, body }),
      signal: init.signal,
    });
  }

  /** A request with this client's token for the task; on a 401 (expired, or a new coordinator secret) it enrols again once. */
  private async authorized(taskId: string, path: string, init: RequestInit): Promise<unknown> {
    const withToken = (token: string): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } });
    try {
      return await this.request(path, withToken(await this.token(taskId, false, init.signal ?? undefined)));
    } catch (e) {
      if (!(e instanceof ApiRequestError) || e.status !== 401) throw e;
      return this.request(path, withToken(await this.token(taskId, true, init.signal ?? undefined)));
    }
  }

  private async token(taskId: string, renew: boolean, signal?: AbortSignal): Promise<string> {
    if (!this.credentials) throw new Error('this API client has no credentials to enrol with');
    // Per coordinator too: a site may embed tasks of two coordinators that happen to share a task id.
    const key = `token:${new URL(this.baseUrl).origin}:${taskId}`;
    const clientId = await this.credentials.clientId();
    const saved = renew ? undefined : await this.credentials.setting(key, isSavedToken);
    if (saved && saved.clientId === clientId && Date.parse(saved.expiresAt) - Date.now() > RENEW_BEFORE_MS) return saved.token;
    const issued = parseEnrolResponse(await this.post(`/v1/tasks/${encodeURIComponent(taskId)}/enrol`, await this.enrolment(taskId, clientId, signal), signal));
    await this.credentials.putSetting(key, { ...issued, clientId } satisfies SavedToken);
    return issued.token;
  }

  /** The enrolment, signed with this browser's key over a fresh challenge where WebCrypto allows. */
  private async enrolment(taskId: string, clientId: string, signal?: AbortSignal): Promise<EnrolRequest> {
    if (!canSign()) return { clientId };
    const keys = await this.credentials!.signingKey();
    const { challenge } = parseChallengeResponse(await this.post(`/v1/tasks/${encodeURIComponent(taskId)}/enrol/challenge`, { clientId }, signal));
    return { clientId, proof: await enrolmentProof(keys, challenge) };
  }

  private post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  }

  /** A GET whose answer is JSON, unvalidated (a model.json): the caller reads it as `unknown`. */
  json(path: string, signal?: AbortSignal): Promise<unknown> {
    return this.request(path, { signal });
  }

  /** A GET whose answer is binary (weights, a model delta). */
  async binary(path: string, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    const response = await this.fetchOk(path, { signal });
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      throw new ApiRequestError(undefined, 'network', `the download broke off: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    return (await this.fetchOk(path, init)).json().catch(() => null);
  }

  /** The response when it is a 2xx; an ApiRequestError carrying the coordinator's code otherwise. */
  private async fetchOk(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(this.url(path), init);
    } catch (e) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new ApiRequestError(undefined, 'network', `coordinator unreachable: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!response.ok) {
      const err = readApiError(await response.json().catch(() => null));
      const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
      throw new ApiRequestError(response.status, err?.code ?? 'http_error', err?.message ?? `HTTP ${response.status}`, err?.field, Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : undefined);
    }
    return response;
  }
}
