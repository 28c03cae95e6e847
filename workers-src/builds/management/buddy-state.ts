/** What a BuildBuddy keeps in storage, and the small helpers around it. */
import type { BuildOutcome, BuildStatus, FailureClass, StatusCallback } from "../shared/protocol";

/** After the runner says it stopped, how long its last log batches may still take to arrive. */
export const LOG_GRACE_MS = 30_000;
/** A busy or unreachable runner is asked again this much later, until the start deadline. */
export const START_RETRY_MS = 2_000;
/** After the platform stopped a build, how long the runner's last lines and `stopped` may take. */
export const STOPPED_LOG_GRACE_MS = 10_000;
/** An alarm whose work failed (PostgreSQL unreachable, ...) runs again this much later. */
export const ALARM_RETRY_MS = 10_000;

/** The state of a build that stopped before this object started it: later starts change nothing. */
export function tombstone(buildUuid: string, outcome: BuildOutcome): BuddyState {
  return {
    buildUuid,
    accountId: "",
    workerId: "",
    cacheEnabled: false,
    status: "stopped",
    outcome,
    tokenHash: "",
    startDeadline: 0,
    runDeadline: 0,
  };
}
export const STATUS_RANK: Record<BuildStatus, number> = {
  queued: 0,
  initializing: 1,
  running: 2,
  stopped: 3,
};

export interface BuddyState {
  buildUuid: string;
  accountId: string;
  workerId: string;
  cacheEnabled: boolean;
  status: BuildStatus;
  outcome?: BuildOutcome;
  failureClass?: FailureClass;
  /** SHA-256 (hex) of the runner's callback token; the token itself is never stored. */
  tokenHash: string;
  /** A runner that has not reported `running` by then fails the build ("initialization"). */
  startDeadline: number;
  /** The build is terminated ("timeout") at this time. */
  runDeadline: number;
  lastLogSeq?: number;
  /** The runner's resolved commit is in PostgreSQL. */
  commitRecorded?: boolean;
  /** The runner was busy or unreachable: the start is tried again at this time. */
  retryAt?: number;
  /** The runner that took the build, where there are several (a stop goes there). */
  runner?: string;
  /** When the log is sealed even if batches are still missing. */
  logDeadline?: number;
}

/** Answer to a runner callback. `accepted: false` means it was late or a duplicate: nothing changed. */
export interface CallbackResult {
  status: number;
  accepted: boolean;
  error?: string;
}

export interface CacheGrant {
  workerId: string;
  cacheEnabled: boolean;
}

/** Cursor of `readLogs`: the number of the last line read, as a string. */
export function parseCursor(cursor: string | null | undefined): number {
  if (cursor === null || cursor === undefined || cursor === "") return 0;
  if (!/^\d{1,15}$/.test(cursor)) throw new RangeError(`invalid log cursor "${cursor.slice(0, 40)}"`);
  return Number(cursor);
}

/** What a BuildBuddy's alarm does, given its state at `now`. */
export type AlarmAction =
  /** The runner was busy or unreachable: ask again, with a new token and fresh variables. */
  | "retry-start"
  /** No runner reported `running` before the start deadline: failed, "initialization". */
  | "start-timeout"
  /** The build ran past its time limit: terminated, "timeout". */
  | "run-timeout"
  /** A running build's runner went silent: failed, "health_check". */
  | "heartbeat-lost"
  /** The log's grace period after the stop is over: seal it, missing batches or not. */
  | "seal-log"
  /** Nothing is due: set the next alarm. */
  | "rearm";

/** A time at which the alarm has something to do, named by what it does once that time has come. */
export type Deadline = Exclude<AlarmAction, "rearm">;

/** Every deadline a state has, each at its time; a state past all of them has none. */
export type Deadlines = Partial<Record<Deadline, number>>;

/**
 * Which deadline's action is taken when several have passed: the first in this order. A start that timed
 * out is not retried; a pending retry runs before the run deadline ends the build (the retried start keeps
 * it); the run deadline wins over a lost heartbeat.
 */
export const DEADLINE_ORDER: readonly Deadline[] = [
  "start-timeout",
  "retry-start",
  "run-timeout",
  "heartbeat-lost",
  "seal-log",
];

/** What the deadlines depend on beyond the state; each is read only where a deadline needs it. */
export interface DeadlineInputs {
  /** When the runner last reported: read only for a running build. */
  lastSeen: () => number;
  /** How long a running build's runner may stay silent. */
  heartbeatTimeoutMs: number;
  /**
   * Whether a stopped build's log is whole already (every batch, or sealed): then there is nothing left to
   * seal. Read only for a stopped build with a log deadline. @default not whole
   */
  logDone?: () => boolean;
}

/**
 * Every deadline of a build in `state`. Pure. The alarm is set to the earliest of them (none: no alarm),
 * and when it fires `alarmAction` takes the action of the first of them, in `DEADLINE_ORDER`, that passed.
 */
export function deadlines(state: BuddyState, inputs: DeadlineInputs): Deadlines {
  const due: Deadlines = {};
  if (state.status === "initializing") {
    due["start-timeout"] = state.startDeadline;
    // A retry due at or after the start deadline never runs: by then the start timed out.
    if (state.retryAt !== undefined && state.retryAt < state.startDeadline) {
      due["retry-start"] = state.retryAt;
    }
  }
  if (state.status !== "stopped") due["run-timeout"] = state.runDeadline;
  if (state.status === "running") due["heartbeat-lost"] = inputs.lastSeen() + inputs.heartbeatTimeoutMs;
  if (state.status === "stopped" && state.logDeadline !== undefined && !inputs.logDone?.()) {
    due["seal-log"] = state.logDeadline;
  }
  return due;
}

/** When the alarm should next fire: the earliest deadline, or `undefined` when there is none. */
export function nextAlarm(due: Deadlines): number | undefined {
  const times = Object.values(due);
  return times.length > 0 ? Math.min(...times) : undefined;
}

/** The alarm's decision at `now`: the action of the first deadline (in `DEADLINE_ORDER`) that has passed. */
export function dueAction(due: Deadlines, now: number): AlarmAction {
  return DEADLINE_ORDER.find((deadline) => (due[deadline] ?? Number.POSITIVE_INFINITY) <= now) ?? "rearm";
}

/**
 * The alarm's decision for a build in `state` at `now`: `dueAction` of its `deadlines`. `lastSeen` is when
 * the runner last reported (only read for a running build); `heartbeatTimeoutMs` how long it may stay
 * silent; `logDone` whether a stopped build's log is whole.
 */
export function alarmAction(
  state: BuddyState,
  now: number,
  lastSeen: () => number,
  heartbeatTimeoutMs: number,
  logDone?: () => boolean,
): AlarmAction {
  return dueAction(deadlines(state, { lastSeen, heartbeatTimeoutMs, logDone }), now);
}

/** What a runner's status callback does to the build. */
export type StatusEffect =
  /** Late, duplicate or out of order: nothing moves. */
  | { kind: "none" }
  /** The platform stopped the build first; the runner's own report still says which batch was its last. */
  | { kind: "last-log-seq"; lastLogSeq: number }
  | { kind: "running" }
  | {
      kind: "stopped";
      outcome: BuildOutcome;
      failureClass: FailureClass | undefined;
      lastLogSeq: number;
      /** What the build deployed, when the runner told (absent otherwise). */
      deployed?: DeployedUrls;
    };

/** The URLs a build deployed to, as the build's row stores them. */
export interface DeployedUrls {
  deploymentUrl: string | null;
  previewUrl: string | null;
}

/**
 * The effect of `update` on a build in `state`, and the commit to record first (once: a build asked for a
 * branch learns its commit from the runner). Pure. Status only ever moves forward.
 */
export function statusEffect(
  state: BuddyState,
  update: StatusCallback,
): { commit?: string; effect: StatusEffect } {
  if (state.status === "stopped" && update.status === "stopped" && state.lastLogSeq === undefined) {
    return { effect: { kind: "last-log-seq", lastLogSeq: update.last_log_seq } };
  }
  const commit =
    update.status === "running" && update.commit_hash && !state.commitRecorded && state.status !== "stopped"
      ? update.commit_hash
      : undefined;
  const withCommit = commit === undefined ? {} : { commit };
  if (STATUS_RANK[update.status] <= STATUS_RANK[state.status])
    return { ...withCommit, effect: { kind: "none" } };
  if (update.status === "running") return { ...withCommit, effect: { kind: "running" } };
  const deployed =
    update.deployment_url !== undefined || update.preview_url !== undefined
      ? { deployed: { deploymentUrl: update.deployment_url ?? null, previewUrl: update.preview_url ?? null } }
      : {};
  return {
    effect: {
      kind: "stopped",
      outcome: update.outcome,
      failureClass: update.outcome === "success" ? undefined : update.failure_class,
      lastLogSeq: update.last_log_seq,
      ...deployed,
    },
  };
}
