import { z } from "zod";

/**
 * A small client for the few Cloudflare REST calls the program makes outside the provider: the live
 * Durable Object migration tag of a script, and SQL on a D1 database.
 *
 * Dynamic providers serialize this module into the deployment. Captured module values are serialized by
 * value, so the zod schemas are built inside functions (only `z`, a package import, is captured) and the
 * class keeps TypeScript `private` fields rather than `#private` ones.
 */

const DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4";
/** Wrangler's "service not found" and the API's "script not found": the script does not exist yet. */
const SCRIPT_NOT_FOUND_CODES = [10092, 10007];
/** Longest server-requested wait honoured, so a bad header cannot stall a deployment. */
const MAX_RETRY_AFTER_MS = 60_000;

export interface CloudflareApiOptions {
  apiToken: string;
  /** @default "https://api.cloudflare.com/client/v4" */
  baseUrl?: string;
  /**
   * Further attempts after a 429 or 5xx answer, with exponential backoff (or the Retry-After seconds the
   * answer asks for). A request is sent at most `retries + 1` times. @default 3
   */
  retries?: number;
  /** Base backoff in ms, doubled on each retry. @default 250 */
  backoffMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** One result set of a D1 query, one per statement. */
export interface D1QueryResult {
  results: Record<string, unknown>[];
  success: boolean;
  meta?: Record<string, unknown>;
}

export interface CloudflareApiErrorDetail {
  code: number;
  message: string;
}

/** A failed Cloudflare API call: HTTP status, the API's error list, and the call that failed. */
export class CloudflareApiError extends Error {
  override readonly name = "CloudflareApiError";

  constructor(
    message: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly errors: CloudflareApiErrorDetail[],
  ) {
    super(message);
  }
}

function envelopeSchema() {
  return z.object({
    success: z.boolean(),
    errors: z.array(z.object({ code: z.number(), message: z.string() })).nullish(),
    messages: z.array(z.unknown()).nullish(),
    result: z.unknown(),
  });
}

function serviceSchema() {
  return z.object({
    default_environment: z
      .object({ script: z.object({ migration_tag: z.string().nullish() }).nullish() })
      .nullish(),
  });
}

function d1ResultsSchema() {
  return z.array(
    z.object({
      results: z.array(z.record(z.string(), z.unknown())).nullish(),
      success: z.boolean(),
      meta: z.record(z.string(), z.unknown()).nullish(),
    }),
  );
}

function describeErrors(errors: CloudflareApiErrorDetail[]): string {
  return errors.map((e) => `[${e.code}] ${e.message}`).join("; ");
}

function retryDelayMs(response: Response, attempt: number, backoffMs: number): number {
  const header = response.headers.get("retry-after");
  const seconds = header === null || header.trim() === "" ? Number.NaN : Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
  return backoffMs * 2 ** attempt;
}

/** Cloudflare REST client for migration tags and D1 queries. */
export class CloudflareApi {
  private readonly apiToken: string;
  private readonly baseUrl: string;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(options: CloudflareApiOptions) {
    this.apiToken = options.apiToken;
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 250;
    this.fetchImpl = options.fetch;
  }

  /** Live Durable Object migration tag of a script, or undefined when the script does not exist yet or has no migrations. */
  async getScriptMigrationTag(accountId: string, scriptName: string): Promise<string | undefined> {
    const path = `/accounts/${encodeURIComponent(accountId)}/workers/services/${encodeURIComponent(scriptName)}`;
    let result: unknown;
    try {
      result = await this.request("GET", path);
    } catch (error) {
      if (
        error instanceof CloudflareApiError &&
        (error.status === 404 || error.errors.some((e) => SCRIPT_NOT_FOUND_CODES.includes(e.code)))
      ) {
        return undefined;
      }
      throw error;
    }
    const service = this.parse(serviceSchema(), result, "GET", path, 200);
    return service.default_environment?.script?.migration_tag || undefined;
  }

  /** Runs SQL on a D1 database through the query API; returns the result sets (one per statement). */
  async d1Query(
    accountId: string,
    databaseId: string,
    sql: string,
    params?: unknown[],
  ): Promise<D1QueryResult[]> {
    const path = `/accounts/${encodeURIComponent(accountId)}/d1/database/${encodeURIComponent(databaseId)}/query`;
    const body = params === undefined ? { sql } : { sql, params };
    const sets = this.parse(d1ResultsSchema(), await this.request("POST", path, body), "POST", path, 200);
    const failed = sets.findIndex((s) => !s.success);
    if (failed !== -1) {
      throw new CloudflareApiError(
        `Cloudflare API POST ${path}: statement ${failed + 1} of ${sets.length} reported success: false`,
        "POST",
        path,
        200,
        [],
      );
    }
    return sets.map((s) => ({
      results: s.results ?? [],
      success: s.success,
      ...(s.meta ? { meta: s.meta } : {}),
    }));
  }

  /** Sends one call, retrying 429/5xx, and returns the envelope's `result` when the API reports success. */
  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const doFetch = this.fetchImpl ?? globalThis.fetch;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.apiToken}`,
      Accept: "application/json",
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);

    let response: Response;
    for (let attempt = 0; ; attempt++) {
      try {
        response = await doFetch(`${this.baseUrl}${path}`, init);
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new Error(this.redact(`Cloudflare API ${method} ${path}: request failed: ${reason}`), {
          cause,
        });
      }
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt >= this.retries) break;
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(response, attempt, this.backoffMs)));
    }

    const { status } = response;
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const snippet = text.slice(0, 120).replace(/\s+/g, " ");
      throw this.error(method, path, status, [], `returned a non-JSON body (status ${status}): ${snippet}`);
    }
    const envelope = this.parse(envelopeSchema(), json, method, path, status);
    const errors = envelope.errors ?? [];
    if (!response.ok || !envelope.success) {
      const detail = errors.length > 0 ? describeErrors(errors) : "no error details";
      throw this.error(method, path, status, errors, `failed with status ${status}: ${detail}`);
    }
    return envelope.result;
  }

  private parse<T>(schema: z.ZodType<T>, value: unknown, method: string, path: string, status: number): T {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
      throw this.error(
        method,
        path,
        status,
        [],
        `returned an unexpected response shape: ${issues.join("; ")}`,
      );
    }
    return parsed.data;
  }

  private error(
    method: string,
    path: string,
    status: number,
    errors: CloudflareApiErrorDetail[],
    what: string,
  ): CloudflareApiError {
    const redacted = errors.map((e) => ({ code: e.code, message: this.redact(e.message) }));
    return new CloudflareApiError(
      this.redact(`Cloudflare API ${method} ${path} ${what}`),
      method,
      path,
      status,
      redacted,
    );
  }

  /** The API never echoes the token today; this keeps it out of errors if an answer ever does. */
  private redact(text: string): string {
    return this.apiToken ? text.replaceAll(this.apiToken, "[redacted]") : text;
  }
}

/** Query executor over the D1 query API; `query` returns the rows of the last result set. */
export function d1HttpExecutor(
  api: CloudflareApi,
  accountId: string,
  databaseId: string,
): { query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> } {
  return {
    async query(sql, params) {
      const sets = await api.d1Query(accountId, databaseId, sql, params);
      return sets.at(-1)?.results ?? [];
    },
  };
}
