import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../lib/digest";
import type { StoppedBuild } from "../shared/metrics";
import { type BuddyState, BuildBuddy } from "./buddy";
import { deadlines, nextAlarm } from "./buddy-state";
import { deadlineCases, T } from "./buddy-state.cases";
import type { BuildRows } from "./build-rows";
import { numberVar } from "./env";
import { LogStore } from "./log-store";
import { BuildScheduler } from "./scheduler";

const TOKEN = "t".repeat(64);
let n = 0;

/** A BuildBuddy that took a build and waits for its runner: its state as `startBuild` leaves it. */
async function startedBuddy(overrides: Partial<BuddyState> = {}) {
  const uuid = `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
  const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`${uuid}-${Date.now()}`));
  const state: BuddyState = {
    buildUuid: uuid,
    accountId: "acct",
    workerId: "worker",
    cacheEnabled: true,
    status: "running",
    tokenHash: await sha256Hex(TOKEN),
    startDeadline: Date.now() + 60_000,
    runDeadline: Date.now() + 600_000,
    ...overrides,
  };
  await runInDurableObject(stub, (_i: BuildBuddy, s) => s.storage.put("state", state));
  return stub;
}

const lines = (seq: number, count = 3) =>
  Array.from({ length: count }, (_, i) => ({ ts: seq * 10 + i, line: `${seq}.${i}` }));

describe("BuildBuddy runner callbacks", () => {
  it("takes a log batch only with the build's own callback token", async () => {
    const stub = await startedBuddy();
    for (const token of [null, "", "x".repeat(64), `${TOKEN}x`]) {
      expect(await stub.runnerLogs(token, { seq: 1, lines: lines(1) })).toMatchObject({
        status: 401,
        accepted: false,
      });
    }
    expect((await stub.inspect()).lines).toBe(0);
    expect(await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) })).toEqual({
      status: 200,
      accepted: true,
    });
    expect(await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) })).toEqual({
      status: 200,
      accepted: false,
    });
    expect((await stub.inspect()).lines).toBe(3);
  });

  it.each([
    ["no seq", { lines: [] }],
    ["seq 0", { seq: 0, lines: [] }],
    ["a line without ts", { seq: 1, lines: [{ line: "x" }] }],
    ["an unknown field", { seq: 1, lines: [], extra: true }],
    ["not an object", "hello"],
  ])("refuses a malformed log batch (%s) and stores nothing", async (_name, body) => {
    const stub = await startedBuddy();
    expect(await stub.runnerLogs(TOKEN, body)).toMatchObject({ status: 400, accepted: false });
    expect((await stub.inspect()).lines).toBe(0);
  });

  it("a status that does not move the build forward is accepted as a no-op (late or duplicate)", async () => {
    const stub = await startedBuddy({ status: "running" });
    expect(await stub.runnerStatus(TOKEN, { status: "running" })).toEqual({ status: 200, accepted: false });
    expect(await stub.runnerStatus("wrong".repeat(10), { status: "running" })).toMatchObject({ status: 401 });
    expect(await stub.runnerStatus(TOKEN, { status: "stopped" })).toMatchObject({ status: 400 });
    const stopped = await startedBuddy({ status: "stopped", outcome: "success" });
    expect(
      await stopped.runnerStatus(TOKEN, {
        status: "stopped",
        outcome: "failed",
        failure_class: "build_command",
        last_log_seq: 0,
      }),
    ).toEqual({ status: 200, accepted: false });
    expect((await stopped.inspect()).state?.outcome).toBe("success");
  });

  it("hands out the cache only to the running build's token", async () => {
    const stub = await startedBuddy();
    expect(await stub.cacheGrant("nope".repeat(16))).toBeUndefined();
    expect(await stub.cacheGrant(TOKEN)).toEqual({ workerId: "worker", cacheEnabled: true });
    const stopped = await startedBuddy({ status: "stopped", outcome: "success" });
    expect(await stopped.cacheGrant(TOKEN)).toBeUndefined();
  });
});

describe("BuildBuddy log reading", () => {
  it("pages by cursor and reports done only when the build stopped and every batch arrived", async () => {
    const stub = await startedBuddy({ status: "stopped", outcome: "success", lastLogSeq: 3 });
    await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) });
    await stub.runnerLogs(TOKEN, { seq: 3, lines: lines(3) });
    const first = await stub.readLogs(null, { limit: 2 });
    expect(first).toEqual({ lines: lines(1).slice(0, 2), cursor: "2", done: false });
    const second = await stub.readLogs(first.cursor);
    expect(second).toEqual({ lines: lines(1).slice(2), cursor: "3", done: false });
    await stub.runnerLogs(TOKEN, { seq: 2, lines: lines(2) });
    const rest = await stub.readLogs(second.cursor);
    expect(rest).toEqual({ lines: [...lines(2), ...lines(3)], cursor: "9", done: true });
  });

  it("a waiting reader is woken by the next batch, and many readers see the same lines", async () => {
    const stub = await startedBuddy();
    const readers = Array.from({ length: 5 }, () => stub.readLogs("0", { waitMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) });
    const pages = await Promise.all(readers);
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const page of pages) expect(page).toEqual({ lines: lines(1), cursor: "3", done: false });
  });

  it("a wait with nothing new ends after waitMs with an empty page at the same cursor", async () => {
    const stub = await startedBuddy();
    expect(await stub.readLogs("0", { waitMs: 100 })).toEqual({ lines: [], cursor: "0", done: false });
  });

  it("a build it never started has no lines and is not done", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`never-${Date.now()}`));
    expect(await stub.readLogs(null)).toEqual({ lines: [], cursor: "0", done: false });
  });

  it("keeps its lines and state across an eviction (a new instance over the same storage)", async () => {
    const stub = await startedBuddy();
    await stub.runnerLogs(TOKEN, { seq: 2, lines: lines(2) });
    await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) });
    await runInDurableObject(stub, async (_instance: BuildBuddy, state) => {
      const fresh = new BuildBuddy(state, env);
      expect((await fresh.readLogs(null)).lines).toEqual([...lines(1), ...lines(2)]);
      expect(await fresh.runnerLogs(TOKEN, { seq: 2, lines: lines(2) })).toEqual({
        status: 200,
        accepted: false,
      });
    });
  });
});

describe("BuildBuddy alarm: set at the earliest of the state's deadlines, or not at all", () => {
  const heartbeatTimeoutMs = numberVar(env.HEARTBEAT_TIMEOUT_SECONDS, 60) * 1000;

  /** A BuildBuddy holding `state`, the runner last seen at `lastSeen`, its log whole or not, and an alarm set. */
  async function buddyWith(state: BuddyState, lastSeen: number | undefined, logDone: boolean) {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`deadlines-${++n}-${Date.now()}`));
    await runInDurableObject(stub, async (_i: BuildBuddy, s) => {
      await s.storage.put("state", state);
      if (lastSeen !== undefined) await s.storage.put("lastSeen", lastSeen);
      if (logDone) {
        // Whole as it becomes whole: every batch up to the runner's last, or sealed when it named none.
        const log = new LogStore(s.storage);
        if (state.lastLogSeq === undefined) log.seal();
        for (let seq = 1; seq <= (state.lastLogSeq ?? 0); seq++) log.append(seq, lines(seq));
      }
      // Run by runDurableObjectAlarm, not by the clock.
      await s.storage.setAlarm(Date.now() + 3_600_000);
    });
    return stub;
  }

  it.each(deadlineCases)("$why", async (c) => {
    // The table's times, moved to begin a minute from now: the alarm finds nothing due and only sets the
    // next one, through the same save() as every other change of state.
    const shift = Date.now() + 60_000 - T;
    const later = (t: number | undefined) => (t === undefined ? undefined : t + shift);
    const state: BuddyState = {
      ...c.state,
      startDeadline: c.state.startDeadline + shift,
      runDeadline: c.state.runDeadline + shift,
      ...(c.state.retryAt === undefined ? {} : { retryAt: later(c.state.retryAt) }),
      ...(c.state.logDeadline === undefined ? {} : { logDeadline: later(c.state.logDeadline) }),
    };
    const lastSeen = later(c.lastSeen);
    const stub = await buddyWith(state, lastSeen, c.logDone ?? false);
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const due = deadlines(state, {
      lastSeen: () => lastSeen as number,
      heartbeatTimeoutMs,
      logDone: () => c.logDone ?? false,
    });
    const { alarm, state: after } = await stub.inspect();
    expect(after).toEqual(state);
    expect(alarm).toBe(nextAlarm(due) ?? null);
    if (heartbeatTimeoutMs === 60_000) expect(alarm).toBe(later(nextAlarm(c.deadlines)) ?? null);
  });

  it.each([
    { log: "still missing batches", logDone: false, sealed: true },
    { log: "whole already (its deadline was not set again)", logDone: true, sealed: false },
  ])("at the log's deadline, a log $log is sealed only when it must be, and no alarm is left", async (c) => {
    const state: BuddyState = {
      ...deadlineCases[0]!.state,
      status: "stopped",
      outcome: "success",
      lastLogSeq: 1,
      logDeadline: Date.now() - 1,
    };
    const stub = await buddyWith(state, undefined, c.logDone);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.inspect()).alarm).toBeNull();
    const sealed = await runInDurableObject(stub, (_i: BuildBuddy, s) => new LogStore(s.storage).sealed());
    expect(sealed).toBe(c.sealed);
  });

  it("a running build whose runner never reported gets a whole heartbeat timeout from now", async () => {
    const runDeadline = Date.now() + 3_600_000;
    const state: BuddyState = {
      ...deadlineCases[0]!.state,
      buildUuid: "00000000-0000-4000-8000-00000000dddd",
      status: "running",
      startDeadline: Date.now() - 1000,
      runDeadline,
    };
    const before = Date.now();
    const stub = await buddyWith(state, undefined, false);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = Date.now();
    const { alarm } = await stub.inspect();
    expect(alarm).toBeGreaterThanOrEqual(before + heartbeatTimeoutMs);
    expect(alarm).toBeLessThanOrEqual(after + heartbeatTimeoutMs);
  });
});

describe("BuildScheduler", () => {
  it("reads its limits from the Worker's vars, as the local stack sets them", async () => {
    const stub = env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("limits-test"));
    // stacks/Pulumi.local.yaml: builds.maxConcurrentPerAccount 2; the rest are the schema's defaults.
    expect(await stub.limits()).toEqual({
      maxConcurrentBuilds: 2,
      maxConcurrentBuildsGlobal: 50,
      timeoutMinutes: 20,
      wakeOnQueue: true,
      pollIntervalSeconds: 30,
      shards: 1,
      leaseSeconds: 30,
    });
  });

  it("keeps an alarm set from its first start on: the safety net that finds missed builds", async () => {
    const stub = env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("global"));
    await runInDurableObject(stub, async (instance: BuildScheduler, state) => {
      expect(instance).toBeInstanceOf(BuildScheduler);
      const alarm = await state.storage.getAlarm();
      expect(alarm).not.toBeNull();
      expect(alarm as number).toBeGreaterThan(Date.now());
      expect(alarm as number).toBeLessThanOrEqual(Date.now() + 30_000);
    });
  });

  it("as an object the shard count does not name (a shard of another count), admits nothing and ends its alarm", async () => {
    const stub = env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("shard-1-of-4"));
    expect(await stub.tick()).toMatchObject({ admitted: [], restarted: [] });
    await runInDurableObject(stub, async (_instance: BuildScheduler, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: BuildScheduler, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });
});

describe("BuildBuddy metrics: one Analytics Engine point per build it stops, whichever way", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, s));
  const stopped = (extra: Partial<StoppedBuild> = {}): StoppedBuild => ({
    account_id: "acct",
    worker_id: "worker",
    created_at: at(0),
    initializing_at: at(1),
    running_at: at(2),
    stopped_at: at(7),
    ...extra,
  });

  /** A BuildBuddy whose PostgreSQL row and compute are fakes, and whose data points are kept. */
  async function instrumented(
    stub: DurableObjectStub<BuildBuddy>,
    rows: Partial<BuildRows>,
  ): Promise<{ points: AnalyticsEngineDataPoint[]; stops: string[] }> {
    const points: AnalyticsEngineDataPoint[] = [];
    const stops: string[] = [];
    await runInDurableObject(stub, (instance: BuildBuddy) => {
      instance.metrics = { writeDataPoint: (p) => points.push(p ?? {}) };
      instance.compute = {
        startBuild: async () => ({}),
        stopBuild: async (uuid, runner) => {
          stops.push(runner ? `${uuid}@${runner}` : uuid);
        },
      };
      instance.rows = {
        recordCommit: async () => undefined,
        markRunning: async () => undefined,
        markStopped: async () => undefined,
        failInitializing: async () => undefined,
        cancelUnstarted: async () => undefined,
        ...rows,
      };
    });
    return { points, stops };
  }

  it("a running build cancelled: outcome cancelled, its queued, running and total times", async () => {
    const stub = await startedBuddy();
    const { points, stops } = await instrumented(stub, { markStopped: async () => stopped() });
    const uuid = (await stub.inspect()).state!.buildUuid;
    expect(await stub.cancel(uuid)).toEqual({
      status: "stopped",
      build_outcome: "cancelled",
      cancelled: true,
    });
    expect(stops).toEqual([uuid]);
    expect(points).toEqual([
      { indexes: ["acct"], blobs: ["cancelled", "", "worker", env.RELEASE], doubles: [1000, 5000, 7000] },
    ]);
  });

  it("a cancel goes to the runner that took the build, where there are several", async () => {
    const stub = await startedBuddy({ runner: "http://127.0.0.1:9002" });
    const { stops } = await instrumented(stub, { markStopped: async () => stopped() });
    const uuid = (await stub.inspect()).state!.buildUuid;
    await stub.cancel(uuid);
    expect(stops).toEqual([`${uuid}@http://127.0.0.1:9002`]);
  });

  it("a build the runner reports failed: outcome and failure class from the report", async () => {
    const stub = await startedBuddy();
    const { points } = await instrumented(stub, { markStopped: async () => stopped() });
    const result = await stub.runnerStatus(TOKEN, {
      status: "stopped",
      outcome: "failed",
      failure_class: "build_command",
      last_log_seq: 0,
    });
    expect(result).toEqual({ status: 200, accepted: true });
    expect(points.map((p) => p.blobs?.slice(0, 2))).toEqual([["failed", "build_command"]]);
  });

  it("a build cancelled while still queued (never started here): outcome cancelled, no running time", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`queued-${Date.now()}`));
    const { points } = await instrumented(stub, {
      cancelUnstarted: async () => ({
        ...stopped({ initializing_at: null, running_at: null, stopped_at: at(3) }),
        status: "stopped",
        build_outcome: "cancelled",
        changed: true,
      }),
    });
    expect((await stub.cancel("00000000-0000-4000-8000-00000000aaaa")).cancelled).toBe(true);
    expect(points).toEqual([
      { indexes: ["acct"], blobs: ["cancelled", "", "worker", env.RELEASE], doubles: [0, 0, 3000] },
    ]);
  });

  it("a build that could not be prepared: failed, initialization", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`unprepared-${Date.now()}`));
    // No PostgreSQL behind this Worker's Hyperdrive in these tests: loading the build fails.
    const { points } = await instrumented(stub, {
      failInitializing: async () => stopped({ running_at: null, stopped_at: at(4) }),
    });
    await stub.startBuild("00000000-0000-4000-8000-00000000bbbb");
    expect(points.map((p) => [p.blobs?.[0], p.blobs?.[1], p.doubles])).toEqual([
      ["failed", "initialization", [1000, 0, 4000]],
    ]);
  });

  it("no point for a cancel of a build PostgreSQL already had stopped", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`done-${Date.now()}`));
    const { points } = await instrumented(stub, {
      cancelUnstarted: async () => ({
        ...stopped(),
        status: "stopped",
        build_outcome: "success",
        changed: false,
      }),
    });
    const result = await stub.cancel("00000000-0000-4000-8000-00000000cccc");
    expect(result).toEqual({ status: "stopped", build_outcome: "success", cancelled: false });
    expect(points).toEqual([]);
  });

  it("no point for a stop PostgreSQL had already recorded (a retried finish)", async () => {
    const stub = await startedBuddy();
    const { points } = await instrumented(stub, {});
    const uuid = (await stub.inspect()).state!.buildUuid;
    expect((await stub.cancel(uuid)).cancelled).toBe(true);
    expect(points).toEqual([]);
  });
});

describe("BuildBuddy purge (its Worker was deleted)", () => {
  it("deletes a stopped build's state, log and alarm, and answers an empty object afterwards", async () => {
    const stub = await startedBuddy({ status: "stopped", outcome: "success", lastLogSeq: 1 });
    await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) });
    await runInDurableObject(stub, (_i: BuildBuddy, s) => s.storage.setAlarm(Date.now() + 60_000));
    expect((await stub.inspect()).lines).toBe(3);
    expect(await stub.purge()).toEqual({ purged: true });
    expect(await stub.inspect()).toEqual({ state: undefined, lines: 0, alarm: null });
    expect(await stub.readLogs(null)).toEqual({ lines: [], cursor: "0", done: false });
    expect(await stub.purge()).toEqual({ purged: false });
  });

  it("leaves nothing behind in an object that never had a build (a superseded one), and refuses later batches", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`never-${Date.now()}`));
    expect(await stub.purge()).toEqual({ purged: false });
    const tables = await runInDurableObject(stub, (_i: BuildBuddy, s) =>
      s.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'log%'")
        .toArray(),
    );
    expect(tables).toEqual([]);

    const purged = await startedBuddy({ status: "stopped", outcome: "success" });
    await purged.purge();
    expect(await purged.runnerLogs(TOKEN, { seq: 1, lines: lines(1) })).toMatchObject({
      status: 401,
      accepted: false,
    });
    expect((await purged.inspect()).lines).toBe(0);
  });

  it("refuses to purge a build that has not stopped, and keeps it whole", async () => {
    const stub = await startedBuddy({ status: "running" });
    await stub.runnerLogs(TOKEN, { seq: 1, lines: lines(1) });
    // Awaited through then(): expect().rejects reads properties of the RPC promise, each a call of its own.
    const refused = await stub.purge().then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toMatch(/is running: cancel it before purging its log/);
    expect((await stub.inspect()).lines).toBe(3);
    expect((await stub.inspect()).state).toMatchObject({ status: "running" });
  });
});
