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

/**
 * The alarm's decision, first match wins. `lastSeen` is when the runner last reported (only read for a
 * running build); `heartbeatTimeoutMs` how long it may stay silent.
 */
export function alarmAction(
  state: BuddyState,
  now: number,
  lastSeen: () => number,
  heartbeatTimeoutMs: number,
): AlarmAction {
  if (state.status === "initializing") {
    if (state.retryAt !== undefined && now >= state.retryAt && now < state.startDeadline)
      return "retry-start";
    if (now >= state.startDeadline) return "start-timeout";
  }
  if (state.status !== "stopped" && now >= state.runDeadline) return "run-timeout";
  if (state.status === "running" && now >= lastSeen() + heartbeatTimeoutMs) return "heartbeat-lost";
  if (state.status === "stopped" && state.logDeadline !== undefined && now >= state.logDeadline)
    return "seal-log";
  return "rearm";
}

/** What a runner's status callback does to the build. */
export type StatusEffect =
  /** Late, duplicate or out of order: nothing moves. */
  | { kind: "none" }
  /** The platform stopped the build first; the runner's own report still says which batch was its last. */
  | { kind: "last-log-seq"; lastLogSeq: number }
  | { kind: "running" }
  | { kind: "stopped"; outcome: BuildOutcome; failureClass: FailureClass | undefined; lastLogSeq: number };

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
  return {
    effect: {
      kind: "stopped",
      outcome: update.outcome,
      failureClass: update.outcome === "success" ? undefined : update.failure_class,
      lastLogSeq: update.last_log_seq,
    },
  };
}
