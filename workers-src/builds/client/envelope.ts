/**
 * The JSON envelope every Client Worker response uses, in Cloudflare's API style, and the errors that
 * map onto it. Route code throws an {@link ApiError}; the app's error handler turns it into an envelope
 * with the error's status.
 */

export interface ApiMessage {
  code: number;
  message: string;
}

export interface ResultInfo {
  /** Items in this page. */
  count: number;
  per_page: number;
  /** Pass as `?cursor=` for the next page; null on the last page. */
  cursor: string | null;
}

export interface Envelope<T> {
  success: boolean;
  errors: ApiMessage[];
  messages: ApiMessage[];
  result: T;
  result_info?: ResultInfo;
}

/** Error codes of the API, stable for clients to switch on. */
export const ERROR_CODES = {
  validation: 1001,
  malformedJson: 1002,
  payloadTooLarge: 1003,
  notFound: 1004,
  conflict: 1005,
  rateLimited: 1006,
  unauthorized: 1007,
  internal: 10000,
  /** Done, but a clean-up after it (a deleted Worker's logs or cache) is not complete. */
  cleanupIncomplete: 10001,
} as const;

export function ok<T>(result: T, resultInfo?: ResultInfo): Envelope<T> {
  return resultInfo === undefined
    ? { success: true, errors: [], messages: [], result }
    : { success: true, errors: [], messages: [], result, result_info: resultInfo };
}

export function failure(errors: ApiMessage[], messages: ApiMessage[] = []): Envelope<null> {
  return { success: false, errors, messages, result: null };
}

/** An error whose status and messages are safe to show to the caller. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: 400 | 401 | 404 | 409 | 413 | 429,
    readonly errors: ApiMessage[],
    /** Response headers the error needs (`Retry-After`, `WWW-Authenticate`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(errors.map((e) => e.message).join("; "));
  }
}

export class ValidationError extends ApiError {
  override name = "ValidationError";
  constructor(messages: string[]) {
    super(
      400,
      messages.map((message) => ({ code: ERROR_CODES.validation, message })),
    );
  }
}

export class MalformedJsonError extends ApiError {
  override name = "MalformedJsonError";
  constructor(detail: string) {
    super(400, [{ code: ERROR_CODES.malformedJson, message: `body: not valid JSON (${detail})` }]);
  }
}

export class PayloadTooLargeError extends ApiError {
  override name = "PayloadTooLargeError";
  constructor(maxBytes: number) {
    super(413, [{ code: ERROR_CODES.payloadTooLarge, message: `body: larger than ${maxBytes} bytes` }]);
  }
}

/** Also what another account's object answers: the API never tells whether it exists. */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
  constructor(what: string) {
    super(404, [{ code: ERROR_CODES.notFound, message: `${what} not found` }]);
  }
}

export class ConflictError extends ApiError {
  override name = "ConflictError";
  constructor(message: string) {
    super(409, [{ code: ERROR_CODES.conflict, message }]);
  }
}

export class AuthError extends ApiError {
  override name = "AuthError";
  constructor(message: string) {
    super(401, [{ code: ERROR_CODES.unauthorized, message }], { "WWW-Authenticate": "Bearer" });
  }
}

export class RateLimitedError extends ApiError {
  override name = "RateLimitedError";
  constructor(message: string, retryAfterSeconds: number) {
    super(429, [{ code: ERROR_CODES.rateLimited, message }], { "Retry-After": String(retryAfterSeconds) });
  }
}

/** The envelope of an unexpected error: nothing of the error itself, only where to find it in the logs. */
export function internalErrorEnvelope(requestId: string): Envelope<null> {
  return failure(
    [{ code: ERROR_CODES.internal, message: "internal error" }],
    [{ code: ERROR_CODES.internal, message: `request id: ${requestId}` }],
  );
}

/**
 * PostgreSQL's answers when another request changed the same rows at the same moment (a deadlock, a
 * serialization failure, a row another transaction just deleted): the request did nothing, and trying it
 * again is the remedy. Answered 409, not 500.
 */
const CONCURRENCY_CODES: Record<string, string> = {
  "40P01": "another request changed the same objects at the same time",
  "40001": "another request changed the same objects at the same time",
  "23503": "an object this request refers to was deleted by another request",
};

export function concurrencyConflict(err: unknown): ConflictError | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const why = typeof code === "string" ? CONCURRENCY_CODES[code] : undefined;
  return why === undefined ? undefined : new ConflictError(`${why}; nothing was changed, try again`);
}
