/**
 * The BuildBuddy's writes to its build's row in PostgreSQL. Each is guarded by the status it moves from,
 * so a retried or late call changes nothing: status only ever moves forward.
 */
import { withDb } from "../shared/db";
import type { BuildOutcome, BuildStatus, FailureClass } from "../shared/protocol";
import type { ManagementEnv } from "./env";

export interface StoppedTimes {
  created_at: Date;
  initializing_at: Date | null;
  running_at: Date | null;
  stopped_at: Date;
}

/** The runner's resolved commit, for a build whose push did not name one. */
export function recordCommit(env: ManagementEnv, buildUuid: string, commitHash: string): Promise<unknown> {
  return withDb(env.HYPERDRIVE, (db) =>
    db.query("UPDATE builds SET commit_hash = $2 WHERE build_uuid = $1 AND commit_hash IS NULL", [
      buildUuid,
      commitHash,
    ]),
  );
}

export function markRunning(env: ManagementEnv, buildUuid: string): Promise<unknown> {
  return withDb(env.HYPERDRIVE, (db) =>
    db.query(
      "UPDATE builds SET status = 'running', running_at = clock_timestamp() WHERE build_uuid = $1 AND status = 'initializing'",
      [buildUuid],
    ),
  );
}

/** Stops a build not yet stopped; its timestamps when this call stopped it, undefined when it already was. */
export async function markStopped(
  env: ManagementEnv,
  buildUuid: string,
  outcome: BuildOutcome,
  failureClass: FailureClass | undefined,
): Promise<StoppedTimes | undefined> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query<StoppedTimes>(
      `UPDATE builds SET status = 'stopped', build_outcome = $2, failure_class = $3, stopped_at = clock_timestamp()
        WHERE build_uuid = $1 AND status <> 'stopped'
        RETURNING created_at, initializing_at, running_at, stopped_at`,
      [buildUuid, outcome, failureClass ?? null],
    ),
  );
  return rows[0];
}

/** Fails a build that could not be prepared; true when this call failed it (it was still initializing). */
export async function failInitializing(env: ManagementEnv, buildUuid: string): Promise<boolean> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query(
      `UPDATE builds SET status = 'stopped', build_outcome = 'failed', failure_class = 'initialization',
              stopped_at = clock_timestamp() WHERE build_uuid = $1 AND status = 'initializing' RETURNING 1`,
      [buildUuid],
    ),
  );
  return rows.length > 0;
}

/**
 * Cancels a build this object never started (queued, or admitted a moment ago), in one statement: the row
 * as it now is, and whether this call cancelled it. Undefined for an unknown build.
 */
export async function cancelUnstarted(
  env: ManagementEnv,
  buildUuid: string,
): Promise<{ status: BuildStatus; build_outcome: BuildOutcome | null; changed: boolean } | undefined> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query<{ status: BuildStatus; build_outcome: BuildOutcome | null; changed: boolean }>(
      `WITH changed AS (
         UPDATE builds SET status = 'stopped', build_outcome = 'cancelled', stopped_at = clock_timestamp()
          WHERE build_uuid = $1 AND status IN ('queued', 'initializing') RETURNING status, build_outcome)
       SELECT status, build_outcome, true AS changed FROM changed
       UNION ALL SELECT status, build_outcome, false FROM builds
        WHERE build_uuid = $1 AND NOT EXISTS (SELECT 1 FROM changed)`,
      [buildUuid],
    ),
  );
  return rows[0];
}
