import type { ApiError } from '../core/protocol.ts';

/** A refusal the HTTP layer turns into `status` with an {@link ApiError} body. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    /** Sent as Retry-After (seconds) when set. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }

  toBody(): ApiError {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}
