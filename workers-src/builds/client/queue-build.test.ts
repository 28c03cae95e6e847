import type { Context } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "./env";
import { recordSuperseded, reportStatuses, wakeScheduler } from "./queue-build";

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

describe("reportStatuses", () => {
  const context = (reportStatuses: (...args: unknown[]) => Promise<void>) => {
    const pending: Promise<unknown>[] = [];
    const c = {
      env: { MANAGEMENT: { reportStatuses } },
      req: { url: "https://builds.example.com/webhooks/github?x=1" },
      executionCtx: { waitUntil: (p: Promise<unknown>) => pending.push(p) },
    } as unknown as Context<AppEnv>;
    return { c, pending };
  };

  it("reports only builds whose connection has a status token, superseded first, with the Client's origin", async () => {
    const calls: unknown[][] = [];
    const { c, pending } = context(async (...args) => {
      calls.push(args);
    });
    reportStatuses(
      c,
      [
        { build_uuid: "q1", reports_status: true },
        { build_uuid: "q2", reports_status: false },
      ],
      [
        { build_uuid: "s1", reports_status: true },
        { build_uuid: "s2", reports_status: false },
      ],
    );
    await Promise.all(pending);
    expect(calls).toEqual([
      [
        [
          { build_uuid: "s1", state: "skipped" },
          { build_uuid: "q1", state: "queued" },
        ],
        "https://builds.example.com",
      ],
    ]);
  });

  it("makes no call when no build reports, and only logs a failed one", async () => {
    let called = 0;
    const none = context(async () => {
      called++;
    });
    reportStatuses(none.c, [{ build_uuid: "q", reports_status: false }]);
    expect(none.pending).toEqual([]);
    const failing = context(async () => {
      called++;
      throw new Error("unreachable");
    });
    reportStatuses(failing.c, [{ build_uuid: "q", reports_status: true }]);
    await expect(Promise.all(failing.pending)).resolves.toBeDefined();
    expect(called).toBe(1);
  });
});
