import { describe, expect, it } from "vitest";
import {
  DEPLOY_HOOK_LIMITS,
  type RateLimitRule,
  rateLimitKey,
  retryAfterSeconds,
  windowStart,
} from "./rate-limit";

// 2025-01-01T00:00:00Z, a whole minute.
const T0 = Date.UTC(2025, 0, 1);

describe("DEPLOY_HOOK_LIMITS", () => {
  it("are the documented 10 a minute per Worker and 100 a minute per account", () => {
    expect(DEPLOY_HOOK_LIMITS).toEqual([
      { scope: "worker", limit: 10, windowSeconds: 60 },
      { scope: "account", limit: 100, windowSeconds: 60 },
    ]);
  });
});

describe("windowStart", () => {
  it.each([
    { name: "the first millisecond of a window is its start", now: T0, window: 60, start: T0 },
    { name: "the last millisecond of a window still belongs to it", now: T0 + 59_999, window: 60, start: T0 },
    { name: "the next millisecond starts the next window", now: T0 + 60_000, window: 60, start: T0 + 60_000 },
    { name: "windows other than a minute align too", now: T0 + 7_500, window: 5, start: T0 + 5_000 },
    { name: "epoch zero is a window start", now: 0, window: 60, start: 0 },
  ])("$name", ({ now, window, start }) => {
    expect(windowStart(now, window)).toBe(start);
  });

  it.each([0, -60, 1.5, Number.NaN])("refuses a window of %s seconds", (window) => {
    expect(() => windowStart(T0, window)).toThrow(
      `rate limit window must be a whole number of seconds, at least 1 (got ${window})`,
    );
  });
});

describe("retryAfterSeconds", () => {
  it.each([
    { name: "at the start of a window, the whole window", now: T0, window: 60, seconds: 60 },
    { name: "part-way, the rest of the window", now: T0 + 15_000, window: 60, seconds: 45 },
    { name: "a fraction of a second rounds up", now: T0 + 15_001, window: 60, seconds: 45 },
    { name: "in the last millisecond, at least 1", now: T0 + 59_999, window: 60, seconds: 1 },
    { name: "in a 1-second window, at least 1", now: T0 + 999, window: 1, seconds: 1 },
  ])("$name", ({ now, window, seconds }) => {
    expect(retryAfterSeconds(now, window)).toBe(seconds);
  });
});

describe("rateLimitKey", () => {
  const [worker, account] = DEPLOY_HOOK_LIMITS as [RateLimitRule, RateLimitRule];

  it.each([
    {
      name: "a Worker's key names the scope, window and Worker",
      rule: worker,
      id: "shop-api",
      key: "deploy-hook:worker:60s:shop-api",
    },
    {
      name: "an account's key names the scope, window and account",
      rule: account,
      id: "acc_123",
      key: "deploy-hook:account:60s:acc_123",
    },
  ])("$name", ({ rule, id, key }) => {
    expect(rateLimitKey(rule, id)).toBe(key);
  });

  it("a Worker and an account with the same id do not share a counter", () => {
    expect(rateLimitKey(worker, "same")).not.toBe(rateLimitKey(account, "same"));
  });

  it("refuses an empty id, which would pool every caller into one counter", () => {
    expect(() => rateLimitKey(worker, "")).toThrow("rate limit key: the worker id is empty");
  });
});
