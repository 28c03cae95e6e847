/**
 * Structured, tagged logs: every line of a request carries its release, request id, route and, once
 * authenticated, account.
 */
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { WorkersLogger } from "workers-tagged-logger";
import type { AppEnv } from "./env";

export type ClientLogTags = {
  release: string;
  request_id: string;
  route: string;
  account_id: string;
};

export const logger = new WorkersLogger<ClientLogTags>();

/** What a log line may say about an error: its class, message and stack. */
export function errorFields(err: unknown): { error: string; message: string; stack: string | undefined } {
  if (err instanceof Error) return { error: err.name, message: err.message, stack: err.stack };
  return { error: typeof err, message: String(err), stack: undefined };
}

/**
 * Gives the request its id (also answered as `X-Request-Id`) and tags the log context with it; runs
 * inside `useWorkersLogger`, which opens that context.
 */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const requestId = crypto.randomUUID();
  c.set("requestId", requestId);
  // The route pattern, not the path: paths carry ids and deploy hook secrets.
  const route = matchedRoutes(c).find((r) => r.method !== "ALL")?.path ?? "(none)";
  logger.setTags({ release: c.env.RELEASE, request_id: requestId, route: `${c.req.method} ${route}` });
  await next();
  c.header("X-Request-Id", requestId);
};
