/**
 * One table of BuildBuddy states and every deadline each has, shared by the tests of `deadlines` and
 * `alarmAction` (buddy-state.test.ts) and of the alarm the object sets (buddy.test.ts).
 */
import {
  type BuddyState,
  type Deadline,
  type Deadlines,
  LOG_GRACE_MS,
  START_RETRY_MS,
  STOPPED_LOG_GRACE_MS,
  tombstone,
} from "./buddy-state";

export const T = 1_000_000;
export const HEARTBEAT_MS = 60_000;
const START = T + 120_000;
const RUN = T + 20 * 60_000;

/** A build as `startBuild` leaves it: initializing, 120 s to start, 20 minutes to run. */
export const initializing: BuddyState = {
  buildUuid: "b",
  accountId: "a",
  workerId: "w",
  cacheEnabled: false,
  status: "initializing",
  tokenHash: "h",
  startDeadline: START,
  runDeadline: RUN,
};

export interface DeadlineCase {
  why: string;
  state: BuddyState;
  /** When the runner last reported (a running build always has it: it is `now` when never stored). */
  lastSeen?: number;
  /** Whether the stopped build's log is whole (every batch arrived, or it was sealed). */
  logDone?: boolean;
  deadlines: Deadlines;
  /**
   * A deadline whose own action is not taken at its time, because another one earlier in `DEADLINE_ORDER`
   * has passed by then too: the action taken instead.
   */
  shadowedBy?: Partial<Record<Deadline, Deadline>>;
}

const stopped = (extra: Partial<BuddyState>): BuddyState => ({
  ...initializing,
  status: "stopped",
  ...extra,
});

export const deadlineCases: DeadlineCase[] = [
  {
    why: "initializing, waiting for the runner to report",
    state: initializing,
    deadlines: { "start-timeout": START, "run-timeout": RUN },
    shadowedBy: { "run-timeout": "start-timeout" },
  },
  {
    why: "initializing, the runner was busy: the start is tried again",
    state: { ...initializing, retryAt: T + START_RETRY_MS },
    deadlines: { "retry-start": T + START_RETRY_MS, "start-timeout": START, "run-timeout": RUN },
    shadowedBy: { "run-timeout": "start-timeout" },
  },
  {
    why: "initializing, a retry due at the start deadline: never tried, the start timed out",
    state: { ...initializing, retryAt: START },
    deadlines: { "start-timeout": START, "run-timeout": RUN },
    shadowedBy: { "run-timeout": "start-timeout" },
  },
  {
    why: "initializing, a retry due after the start deadline: never tried",
    state: { ...initializing, retryAt: START + START_RETRY_MS },
    deadlines: { "start-timeout": START, "run-timeout": RUN },
    shadowedBy: { "run-timeout": "start-timeout" },
  },
  {
    why: "initializing with a start deadline after the run deadline: the run deadline ends it first",
    state: { ...initializing, startDeadline: T + 30 * 60_000 },
    deadlines: { "start-timeout": T + 30 * 60_000, "run-timeout": RUN },
  },
  {
    why: "initializing, a retry pending past the run deadline: tried before the build is terminated",
    state: { ...initializing, startDeadline: T + 30 * 60_000, retryAt: T + 25 * 60_000 },
    deadlines: { "retry-start": T + 25 * 60_000, "start-timeout": T + 30 * 60_000, "run-timeout": RUN },
  },
  {
    // BuildBuddy never stores a queued build (it starts at initializing), but the type allows one.
    why: "queued: only the run deadline",
    state: { ...initializing, status: "queued" },
    deadlines: { "run-timeout": RUN },
  },
  {
    why: "running, the runner reported just now",
    state: { ...initializing, status: "running" },
    lastSeen: T,
    deadlines: { "run-timeout": RUN, "heartbeat-lost": T + HEARTBEAT_MS },
  },
  {
    why: "running past its start deadline, the runner reported a while ago: no start deadline any more",
    state: { ...initializing, status: "running", commitRecorded: true, runner: "http://runner" },
    lastSeen: START + 10_000,
    deadlines: { "run-timeout": RUN, "heartbeat-lost": START + 10_000 + HEARTBEAT_MS },
  },
  {
    why: "running, silent into the run deadline: the run deadline wins",
    state: { ...initializing, status: "running" },
    lastSeen: RUN - 10_000,
    deadlines: { "run-timeout": RUN, "heartbeat-lost": RUN - 10_000 + HEARTBEAT_MS },
    shadowedBy: { "heartbeat-lost": "run-timeout" },
  },
  {
    why: "running, the heartbeat ends exactly at the run deadline: the run deadline wins",
    state: { ...initializing, status: "running" },
    lastSeen: RUN - HEARTBEAT_MS,
    deadlines: { "run-timeout": RUN, "heartbeat-lost": RUN },
    shadowedBy: { "heartbeat-lost": "run-timeout" },
  },
  {
    why: "stopped by the runner, its last batches still on their way",
    state: stopped({ outcome: "success", lastLogSeq: 3, logDeadline: T + LOG_GRACE_MS }),
    logDone: false,
    deadlines: { "seal-log": T + LOG_GRACE_MS },
  },
  {
    why: "stopped by the runner, every batch in",
    state: stopped({ outcome: "success", lastLogSeq: 3, logDeadline: T + LOG_GRACE_MS }),
    logDone: true,
    deadlines: {},
  },
  {
    why: "stopped by the runner, which sent no batch at all",
    state: stopped({
      outcome: "failed",
      failureClass: "clone",
      lastLogSeq: 0,
      logDeadline: T + LOG_GRACE_MS,
    }),
    logDone: true,
    deadlines: {},
  },
  {
    why: "cancelled (or timed out) by the platform, the runner's own stop not in yet",
    state: stopped({ outcome: "cancelled", logDeadline: T + STOPPED_LOG_GRACE_MS }),
    logDone: false,
    deadlines: { "seal-log": T + STOPPED_LOG_GRACE_MS },
  },
  {
    why: "cancelled by the platform, the runner's stop and its last batch in",
    state: stopped({ outcome: "cancelled", lastLogSeq: 2, logDeadline: T + STOPPED_LOG_GRACE_MS }),
    logDone: true,
    deadlines: {},
  },
  {
    why: "failed to start or lost its heartbeat: the log was sealed at once",
    state: stopped({
      outcome: "failed",
      failureClass: "health_check",
      logDeadline: T + STOPPED_LOG_GRACE_MS,
    }),
    logDone: true,
    deadlines: {},
  },
  {
    why: "a tombstone (stopped before this object started it)",
    state: tombstone("b", "cancelled"),
    logDone: true,
    deadlines: {},
  },
];
