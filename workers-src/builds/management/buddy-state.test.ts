import { describe, expect, it } from "vitest";
import type { StatusCallback } from "../shared/protocol";
import {
  type AlarmAction,
  alarmAction,
  type BuddyState,
  DEADLINE_ORDER,
  type Deadline,
  deadlines,
  nextAlarm,
  parseCursor,
  statusEffect,
  tombstone,
} from "./buddy-state";
import { initializing as base, type DeadlineCase, deadlineCases, HEARTBEAT_MS, T } from "./buddy-state.cases";

describe("alarmAction", () => {
  const HEARTBEAT = HEARTBEAT_MS;
  const cases: {
    why: string;
    state: Partial<BuddyState>;
    now: number;
    lastSeen?: number;
    action: AlarmAction;
  }[] = [
    { why: "initializing, nothing due", state: {}, now: T, action: "rearm" },
    {
      why: "retry due before the start deadline",
      state: { retryAt: T + 2000 },
      now: T + 2000,
      action: "retry-start",
    },
    { why: "retry not yet due", state: { retryAt: T + 2000 }, now: T + 1999, action: "rearm" },
    {
      why: "retry due but the start deadline passed: the start timed out",
      state: { retryAt: T + 2000 },
      now: T + 120_000,
      action: "start-timeout",
    },
    {
      why: "start deadline passed without a retry pending",
      state: {},
      now: T + 120_000,
      action: "start-timeout",
    },
    {
      why: "initializing past the run deadline (start deadline later): terminated",
      state: { startDeadline: T + 30 * 60_000 },
      now: T + 20 * 60_000,
      action: "run-timeout",
    },
    {
      why: "running within its time and heartbeat",
      state: { status: "running" },
      now: T + 50_000,
      lastSeen: T,
      action: "rearm",
    },
    {
      why: "running, silent for the heartbeat timeout",
      state: { status: "running" },
      now: T + 60_000,
      lastSeen: T,
      action: "heartbeat-lost",
    },
    {
      why: "running past the run deadline wins over a lost heartbeat",
      state: { status: "running" },
      now: T + 20 * 60_000,
      lastSeen: T,
      action: "run-timeout",
    },
    {
      why: "a running build past its start deadline is not a failed start",
      state: { status: "running" },
      now: T + 200_000,
      lastSeen: T + 190_000,
      action: "rearm",
    },
    {
      why: "stopped, log grace not over",
      state: { status: "stopped", logDeadline: T + 30_000 },
      now: T,
      action: "rearm",
    },
    {
      why: "stopped, log grace over",
      state: { status: "stopped", logDeadline: T + 30_000 },
      now: T + 30_000,
      action: "seal-log",
    },
    {
      why: "stopped long after every deadline: never timed out again",
      state: { status: "stopped" },
      now: T + 60 * 60_000,
      action: "rearm",
    },
    { why: "a tombstone does nothing", state: tombstone("b", "cancelled"), now: T, action: "rearm" },
  ];

  it.each(cases)("$why → $action", ({ state, now, lastSeen, action }) => {
    let read = false;
    const seen = () => {
      read = true;
      return lastSeen ?? T;
    };
    const full = { ...base, ...state };
    expect(alarmAction(full, now, seen, HEARTBEAT)).toBe(action);
    // The runner's last report is read only for a running build.
    if (full.status !== "running") expect(read).toBe(false);
  });
});

describe("deadlines", () => {
  /** The case's inputs, counting which of them were read. */
  const inputs = (c: DeadlineCase) => {
    const reads = { lastSeen: 0, logDone: 0 };
    return {
      reads,
      lastSeen: () => {
        reads.lastSeen++;
        return c.lastSeen ?? Number.NaN;
      },
      logDone: () => {
        reads.logDone++;
        return c.logDone ?? false;
      },
    };
  };
  const action = (c: DeadlineCase, now: number) => {
    const { lastSeen, logDone } = inputs(c);
    return alarmAction(c.state, now, lastSeen, HEARTBEAT_MS, logDone);
  };
  const entries = (c: DeadlineCase) => Object.entries(c.deadlines) as [Deadline, number][];

  it.each(deadlineCases)("$why", (c) => {
    const { reads, lastSeen, logDone } = inputs(c);
    expect(deadlines(c.state, { lastSeen, heartbeatTimeoutMs: HEARTBEAT_MS, logDone })).toStrictEqual(
      c.deadlines,
    );
    // Each input is read only where a deadline depends on it (the object reads them from storage).
    expect(reads.lastSeen).toBe(c.state.status === "running" ? 1 : 0);
    expect(reads.logDone).toBe(c.state.status === "stopped" && c.state.logDeadline !== undefined ? 1 : 0);
  });

  it.each(deadlineCases)("the alarm at each deadline takes its action: $why", (c) => {
    for (const [deadline, at] of entries(c)) {
      expect(action(c, at), `at ${deadline}`).toBe(c.shadowedBy?.[deadline] ?? deadline);
      expect(action(c, at - 1), `just before ${deadline}`).not.toBe(deadline);
    }
    const first = nextAlarm(c.deadlines);
    if (first === undefined) {
      // Nothing is ever due: the alarm only sets the next one (none).
      for (const now of [0, 1_000_000, Number.MAX_SAFE_INTEGER]) expect(action(c, now)).toBe("rearm");
    } else {
      expect(action(c, first - 1), "before the first deadline").toBe("rearm");
      expect(action(c, first)).not.toBe("rearm");
    }
  });

  it.each(deadlineCases.filter((c) => c.shadowedBy))(
    "a deadline is shadowed only by an earlier one in DEADLINE_ORDER, passed by then: $why",
    (c) => {
      for (const [deadline, by] of Object.entries(c.shadowedBy ?? {}) as [Deadline, Deadline][]) {
        expect(c.deadlines[deadline]).toBeDefined();
        expect(c.deadlines[by]).toBeLessThanOrEqual(c.deadlines[deadline] as number);
        expect(DEADLINE_ORDER.indexOf(by)).toBeLessThan(DEADLINE_ORDER.indexOf(deadline));
      }
    },
  );

  it("the next alarm is the earliest deadline, and none without one", () => {
    expect(nextAlarm({ "run-timeout": 30, "heartbeat-lost": 20, "start-timeout": 25 })).toBe(20);
    expect(nextAlarm({ "seal-log": 5 })).toBe(5);
    expect(nextAlarm({})).toBeUndefined();
  });
});

describe("parseCursor", () => {
  it.each([
    [null, 0],
    [undefined, 0],
    ["", 0],
    ["0", 0],
    ["42", 42],
  ] as const)("%s → %d", (cursor, expected) => expect(parseCursor(cursor)).toBe(expected));
  it.each(["-1", "1.5", "abc", "1e3", "9".repeat(16)])("refuses %s", (cursor) =>
    expect(() => parseCursor(cursor)).toThrow(/invalid log cursor/),
  );
});

describe("statusEffect", () => {
  const SHA = "c".repeat(40);
  const stopped = (extra: Partial<Extract<StatusCallback, { status: "stopped" }>> = {}): StatusCallback => ({
    status: "stopped",
    outcome: "failed",
    failure_class: "build_command",
    last_log_seq: 4,
    ...extra,
  });
  it.each<{
    why: string;
    state: Partial<BuddyState>;
    update: StatusCallback;
    expected: ReturnType<typeof statusEffect>;
  }>([
    {
      why: "the runner starts",
      state: {},
      update: { status: "running" },
      expected: { effect: { kind: "running" } },
    },
    {
      why: "the runner starts and names the commit it checked out",
      state: {},
      update: { status: "running", commit_hash: SHA },
      expected: { commit: SHA, effect: { kind: "running" } },
    },
    {
      why: "a heartbeat that names the commit again records it only once",
      state: { status: "running", commitRecorded: true },
      update: { status: "running", commit_hash: SHA },
      expected: { effect: { kind: "none" } },
    },
    {
      why: "a heartbeat with the commit not yet recorded records it, and moves nothing",
      state: { status: "running" },
      update: { status: "running", commit_hash: SHA },
      expected: { commit: SHA, effect: { kind: "none" } },
    },
    {
      why: "a failure report stops the build with its class and last batch",
      state: { status: "running" },
      update: stopped(),
      expected: {
        effect: { kind: "stopped", outcome: "failed", failureClass: "build_command", lastLogSeq: 4 },
      },
    },
    {
      why: "a success carries no failure class, whatever the runner sent",
      state: { status: "running" },
      update: stopped({ outcome: "success" }),
      expected: { effect: { kind: "stopped", outcome: "success", failureClass: undefined, lastLogSeq: 4 } },
    },
    {
      why: "a success carries what the build deployed",
      state: { status: "running" },
      update: stopped({ outcome: "success", deployment_url: "https://site.acct.workers.dev" }),
      expected: {
        effect: {
          kind: "stopped",
          outcome: "success",
          failureClass: undefined,
          lastLogSeq: 4,
          deployed: { deploymentUrl: "https://site.acct.workers.dev", previewUrl: null },
        },
      },
    },
    {
      why: "a non-production build carries its preview URL",
      state: { status: "running" },
      update: stopped({ outcome: "success", preview_url: "https://feature-site.acct.workers.dev" }),
      expected: {
        effect: {
          kind: "stopped",
          outcome: "success",
          failureClass: undefined,
          lastLogSeq: 4,
          deployed: { deploymentUrl: null, previewUrl: "https://feature-site.acct.workers.dev" },
        },
      },
    },
    {
      why: "a runner that stops before reporting running still stops the build",
      state: {},
      update: stopped({ failure_class: "clone" }),
      expected: { effect: { kind: "stopped", outcome: "failed", failureClass: "clone", lastLogSeq: 4 } },
    },
    {
      why: "the runner's stop after the platform stopped it says which batch was last",
      state: { status: "stopped", outcome: "cancelled" },
      update: stopped({ outcome: "cancelled", last_log_seq: 9 }),
      expected: { effect: { kind: "last-log-seq", lastLogSeq: 9 } },
    },
    {
      why: "a duplicate stop after that changes nothing",
      state: { status: "stopped", outcome: "cancelled", lastLogSeq: 9 },
      update: stopped({ last_log_seq: 12 }),
      expected: { effect: { kind: "none" } },
    },
    {
      why: "a late running after the stop changes nothing, commit included",
      state: { status: "stopped", outcome: "success", lastLogSeq: 3 },
      update: { status: "running", commit_hash: SHA },
      expected: { effect: { kind: "none" } },
    },
  ])("$why", ({ state, update, expected }) => {
    expect(statusEffect({ ...base, ...state }, update)).toEqual(expected);
  });
});
