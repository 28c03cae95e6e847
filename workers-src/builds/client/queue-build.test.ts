import type { Context } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "./env";
import { recordSuperseded, wakeScheduler } from "./queue-build";

const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, s));

describe("recordSuperseded", () => {
  it("writes one skipped point per superseded build: queued until it was superseded, never ran", () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const c = {
      env: {
        RELEASE: "r7",
        BUILD_METRICS: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => points.push(p ?? {}) },
      },
    } as unknown as Context<AppEnv>;
    recordSuperseded(c, [
      {
        account_id: "a1",
        worker_id: "w1",
        created_at: at(0),
        initializing_at: null,
        running_at: null,
        stopped_at: at(5),
      },
      {
        account_id: "a2",
        worker_id: "w2",
        created_at: at(1),
        initializing_at: null,
        running_at: null,
        stopped_at: at(2),
      },
    ]);
    expect(points).toEqual([
      { indexes: ["a1"], blobs: ["skipped", "", "w1", "r7"], doubles: [0, 0, 5000] },
      { indexes: ["a2"], blobs: ["skipped", "", "w2", "r7"], doubles: [0, 0, 1000] },
    ]);
  });

  it("writes nothing when nothing was superseded, or when the Worker has no metrics binding", () => {
    const points: unknown[] = [];
    const withMetrics = {
      env: { RELEASE: "r", BUILD_METRICS: { writeDataPoint: (p: unknown) => points.push(p) } },
    };
    recordSuperseded(withMetrics as unknown as Context<AppEnv>, []);
    expect(points).toEqual([]);
    const without = { env: { RELEASE: "r" } } as unknown as Context<AppEnv>;
    expect(() =>
      recordSuperseded(without, [
        {
          account_id: "a",
          worker_id: "w",
          created_at: at(0),
          initializing_at: null,
          running_at: null,
          stopped_at: at(1),
        },
      ]),
    ).not.toThrow();
  });
});

describe("wakeScheduler", () => {
  it("wakes the scheduler once per account, naming it (sharded schedulers wake only its shard)", async () => {
    const woken: (string | undefined)[] = [];
    const pending: Promise<unknown>[] = [];
    const c = {
      env: {
        MANAGEMENT: {
          buildQueued: async (account?: string) => {
            woken.push(account);
            if (account === "acct-down") throw new Error("unreachable");
          },
        },
      },
      executionCtx: { waitUntil: (p: Promise<unknown>) => pending.push(p) },
    } as unknown as Context<AppEnv>;
    wakeScheduler(c, ["acct-a", "acct-b", "acct-a", "acct-down"]);
    // A failed wake is only logged: the scheduler's alarm picks the queue up.
    await Promise.all(pending);
    expect(woken.sort()).toEqual(["acct-a", "acct-b", "acct-down"]);
  });
});
