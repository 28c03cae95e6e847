/**
 * What the Client Worker asks of the Build Management Worker over its RPC service binding. The Client
 * Worker has already checked that the build belongs to the caller's account: the binding is private.
 */
import type { BuildOutcome, BuildStatus, LogLine } from "./protocol";

export interface LogPage {
  lines: LogLine[];
  /** Pass back to read on from the last line returned (opaque). */
  cursor: string;
  /** The build has stopped and every line it wrote is in the pages read so far. */
  done: boolean;
}

export interface ReadLogsOptions {
  /** At most this many lines. @default 1000 */
  limit?: number;
  /** When nothing is past the cursor yet, wait up to this long for a line (live tail). @default 0 */
  waitMs?: number;
}

export interface CancelResult {
  status: BuildStatus;
  build_outcome: BuildOutcome | null;
  /** False when the build had already stopped: nothing changed. */
  cancelled: boolean;
}

/** A commit status the Client Worker reports: the build was queued, or superseded while queued. */
export interface QueuedBuildStatus {
  build_uuid: string;
  state: "queued" | "skipped";
}

/** One row of `pending_purges`. */
export interface PurgeItem {
  kind: "build" | "cache";
  /** A build uuid (`build`) or a Worker id (`cache`). */
  target: string;
}

export interface PurgeResult {
  done: number;
  failed: number;
}

export interface BuildManagementApi {
  /**
   * A build was queued: the scheduler looks at the queue now rather than at its next alarm. With the
   * account, a sharded scheduler wakes only that account's shard; without it, every shard.
   */
  buildQueued(accountId?: string): Promise<void>;
  /**
   * Builds whose commit statuses the Client Worker reports (their repository connection has a status
   * token): queued, or superseded by a newer push (`skipped`). `link` is the Client Worker's origin, where
   * each status links to its build. Each build's BuildBuddy sends them, in order, after this returns.
   */
  reportStatuses(reports: QueuedBuildStatus[], link: string): Promise<void>;
  cancelBuild(buildUuid: string): Promise<CancelResult>;
  readLogs(buildUuid: string, cursor: string | null, options?: ReadLogsOptions): Promise<LogPage>;
  /** Removes the Worker's build cache entries; answers how many were removed. */
  clearCache(workerId: string): Promise<{ deleted: number }>;
  /**
   * Deletes what the given `pending_purges` rows name (a build's BuildBuddy, a Worker's build cache) and
   * removes the rows that succeeded; a failed one stays for the scheduler to retry.
   */
  runPurges(items: PurgeItem[]): Promise<PurgeResult>;
}
