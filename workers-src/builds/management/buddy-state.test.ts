import { describe, expect, it } from "vitest";
import { type AlarmAction, alarmAction, type BuddyState, parseCursor, tombstone } from "./buddy-state";

const T = 1_000_000;
const base: BuddyState = {
  buildUuid: "b",
  accountId: "a",
  workerId: "w",
  cacheEnabled: false,
  status: "initializing",
  tokenHash: "h",
  startDeadline: T + 120_000,
  runDeadline: T + 20 * 60_000,
};

describe("alarmAction", () => {
  const HEARTBEAT = 60_000;
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
