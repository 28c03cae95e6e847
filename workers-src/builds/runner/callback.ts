import { createWriteStream, openAsBlob } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { LogBatch, StatusCallback } from "../shared/protocol";
import { PermanentError, type RetryOptions, withRetry } from "./retry";

export interface CallbackClientOptions {
  /** Base URL of the callback API, e.g. `https://builds.example.com`. */
  baseUrl: string;
  buildUuid: string;
  /** The build's callback token, sent as `Authorization: Bearer`. */
  token: string;
  /** How long transient failures (network errors, 5xx, 429) are retried. */
  retry?: RetryOptions;
}

/** The runner's side of the callback API (see `shared/protocol.ts`). */
export interface CallbackClient {
  /** Posts a status, retrying transient failures unless `once`. */
  postStatus(status: StatusCallback, options?: { once?: boolean }): Promise<void>;
  /** Posts one log batch, once: the log batcher owns retrying, so that batches stay in order. */
  postLogs(batch: LogBatch): Promise<void>;
  /** Downloads the build cache into `file`; false when there is none. */
  downloadCache(file: string, signal?: AbortSignal): Promise<boolean>;
  /** Uploads `file` as the build cache. */
  uploadCache(file: string, signal?: AbortSignal): Promise<void>;
  /** Sends `token` from now on (the platform made a new one for this build). */
  setToken(token: string): void;
}

const REQUEST_TIMEOUT_MS = 30_000;
const TRANSFER_TIMEOUT_MS = 10 * 60_000;

export function createCallbackClient(options: CallbackClientOptions): CallbackClient {
  const base = `${options.baseUrl.replace(/\/+$/, "")}/api/builds/${options.buildUuid}`;
  const headers = { authorization: `Bearer ${options.token}` };

  async function request(
    method: string,
    route: string,
    init: {
      body?: string | Blob;
      contentType?: string;
      timeoutMs?: number;
      allow404?: boolean;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    let response: Response;
    const timeout = AbortSignal.timeout(init.timeoutMs ?? REQUEST_TIMEOUT_MS);
    try {
      response = await fetch(`${base}/${route}`, {
        method,
        headers: init.contentType ? { ...headers, "content-type": init.contentType } : headers,
        body: init.body,
        signal: init.signal ? AbortSignal.any([timeout, init.signal]) : timeout,
      });
    } catch (error) {
      if (init.signal?.aborted) throw new PermanentError(`${method} ${route}: stopped`);
      throw new Error(`${method} ${route}: ${errorMessage(error)}`);
    }
    if (response.ok || (init.allow404 && response.status === 404)) return response;
    const text = await response.text().catch(() => "");
    const message = `${method} ${route} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
    const transient = response.status >= 500 || response.status === 429 || response.status === 408;
    throw transient ? new Error(message) : new PermanentError(message);
  }

  const discard = async (response: Response) => {
    await response.body?.cancel();
  };

  return {
    setToken(token) {
      headers.authorization = `Bearer ${token}`;
    },
    async postStatus(status, { once = false } = {}) {
      const attempt = async () => {
        await discard(
          await request("POST", "status", { body: JSON.stringify(status), contentType: "application/json" }),
        );
      };
      await (once ? attempt() : withRetry(attempt, options.retry));
    },
    async postLogs(batch) {
      await discard(
        await request("POST", "logs", { body: JSON.stringify(batch), contentType: "application/json" }),
      );
    },
    async downloadCache(file, signal) {
      return withRetry(async () => {
        const response = await request("GET", "cache", {
          timeoutMs: TRANSFER_TIMEOUT_MS,
          allow404: true,
          signal,
        });
        if (response.status === 404 || !response.body) {
          await discard(response);
          return false;
        }
        await pipeline(Readable.fromWeb(response.body as WebReadableStream), createWriteStream(file));
        return true;
      }, options.retry);
    },
    async uploadCache(file, signal) {
      await withRetry(async () => {
        const body = await openAsBlob(file);
        const response = await request("PUT", "cache", {
          body,
          contentType: "application/gzip",
          timeoutMs: TRANSFER_TIMEOUT_MS,
          signal,
        });
        await discard(response);
      }, options.retry);
    },
  };
}

/**
 * Reports `running` again every `intervalSeconds` while a build runs, so the API can tell a live build from
 * a lost one. One attempt per beat: the next beat is the retry. `stop()` resolves once no beat is in
 * flight, so none can arrive after the `stopped` status.
 */
export function startHeartbeat(
  client: Pick<CallbackClient, "postStatus">,
  intervalSeconds: number | undefined,
  onError: (message: string) => void,
): { stop(): Promise<void> } {
  if (!intervalSeconds) return { stop: async () => {} };
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    inFlight ??= client
      .postStatus({ status: "running" }, { once: true })
      .catch((error) => onError(`heartbeat failed: ${errorMessage(error)}`))
      .finally(() => {
        inFlight = undefined;
      });
  }, intervalSeconds * 1000);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}

/** An error's message, with the cause that `fetch` hides behind "fetch failed". */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}
