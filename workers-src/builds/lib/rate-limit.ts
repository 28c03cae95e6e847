/**
 * Fixed-window rate limiting for deploy hooks, as Workers Builds documents it: 10 requests a minute per
 * Worker and 100 a minute per account. A counter is kept per key and window start; these helpers are the
 * arithmetic, the counter lives wherever the caller stores it.
 */

export interface RateLimitRule {
  scope: "worker" | "account";
  /** Requests allowed in one window. */
  limit: number;
  windowSeconds: number;
}

export const DEPLOY_HOOK_LIMITS: RateLimitRule[] = [
  { scope: "worker", limit: 10, windowSeconds: 60 },
  { scope: "account", limit: 100, windowSeconds: 60 },
];

/** Start, in epoch milliseconds, of the window that `nowMs` falls in; windows align to the epoch. */
export function windowStart(nowMs: number, windowSeconds: number): number {
  const windowMs = windowMillis(windowSeconds);
  return Math.floor(nowMs / windowMs) * windowMs;
}

/** The counter key for `rule` and the Worker or account `id`; one key per scope, id and window length. */
export function rateLimitKey(rule: RateLimitRule, id: string): string {
  if (id === "") throw new Error(`rate limit key: the ${rule.scope} id is empty`);
  return `deploy-hook:${rule.scope}:${rule.windowSeconds}s:${id}`;
}

/** Seconds until the window that `nowMs` falls in ends, rounded up and at least 1: a `Retry-After` value. */
export function retryAfterSeconds(nowMs: number, windowSeconds: number): number {
  const end = windowStart(nowMs, windowSeconds) + windowMillis(windowSeconds);
  return Math.max(1, Math.ceil((end - nowMs) / 1000));
}

function windowMillis(windowSeconds: number): number {
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1) {
    throw new Error(`rate limit window must be a whole number of seconds, at least 1 (got ${windowSeconds})`);
  }
  return windowSeconds * 1000;
}
