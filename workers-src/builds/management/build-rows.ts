/**
 * The BuildBuddy's writes to its build's row in PostgreSQL. Each is guarded by the status it moves from,
 * so a retried or late call changes nothing: status only ever moves forward.
 */
import { withDb } from "../shared/db";
import { isDeployUrl } from "../shared/deploy-output";
import { STOPPED_BUILD_COLUMNS, type StoppedBuild } from "../shared/metrics";
import type { BuildOutcome, BuildStatus, FailureClass } from "../shared/protocol";
import type { DeployedUrls } from "./buddy-state";
import type { ManagementEnv } from "./env";

/** A build's row, as `cancelUnstarted` leaves it. */
export interface CancelledRow extends StoppedBuild {
  status: BuildStatus;
  build_outcome: BuildOutcome | null;
  /** This call cancelled it (it was queued or initializing). */
  changed: boolean;
}

/** The BuildBuddy's writes, bound to the Worker's PostgreSQL (tests give a BuildBuddy their own). */
export interface BuildRows {
  recordCommit(buildUuid: string, commitHash: string): Promise<unknown>;
  markRunning(buildUuid: string): Promise<unknown>;
  markStopped(
    buildUuid: string,
    outcome: BuildOutcome,
    failureClass: FailureClass | undefined,
    deployed?: DeployedUrls,
  ): Promise<StoppedBuild | undefined>;
  failInitializing(buildUuid: string): Promise<StoppedBuild | undefined>;
  cancelUnstarted(buildUuid: string): Promise<CancelledRow | undefined>;
}

export function buildRows(env: ManagementEnv): BuildRows {
  return {
    recordCommit: (uuid, commit) => recordCommit(env, uuid, commit),
    markRunning: (uuid) => markRunning(env, uuid),
    markStopped: (uuid, outcome, failureClass, deployed) =>
      markStopped(env, uuid, outcome, failureClass, deployed),
    failInitializing: (uuid) => failInitializing(env, uuid),
    cancelUnstarted: (uuid) => cancelUnstarted(env, uuid),
  };
}

/** The runner's resolved commit, for a build whose push did not name one. */
function recordCommit(env: ManagementEnv, buildUuid: string, commitHash: string): Promise<unknown> {
  return withDb(env.HYPERDRIVE, (db) =>
    db.query("UPDATE builds SET commit_hash = $2 WHERE build_uuid = $1 AND commit_hash IS NULL", [
      buildUuid,
      commitHash,
    ]),
  );
}

function markRunning(env: ManagementEnv, buildUuid: string): Promise<unknown> {
  return withDb(env.HYPERDRIVE, (db) =>
    db.query(
      "UPDATE builds SET status = 'running', running_at = clock_timestamp() WHERE build_uuid = $1 AND status = 'initializing'",
      [buildUuid],
    ),
  );
}

/** A URL to store, or null: only what `isDeployUrl` accepts is ever written. */
function storedUrl(url: string | null | undefined): string | null {
  return isDeployUrl(url) ? url : null;
}

/** Stops a build not yet stopped, with what it deployed (when told); undefined when it already was. */
async function markStopped(
  env: ManagementEnv,
  buildUuid: string,
  outcome: BuildOutcome,
  failureClass: FailureClass | undefined,
  deployed?: DeployedUrls,
): Promise<StoppedBuild | undefined> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query<StoppedBuild>(
      `UPDATE builds SET status = 'stopped', build_outcome = $2, failure_class = $3, stopped_at = clock_timestamp(),
              deployment_url = $4, preview_url = $5
        WHERE build_uuid = $1 AND status <> 'stopped'
        RETURNING ${STOPPED_BUILD_COLUMNS}`,
      [
        buildUuid,
        outcome,
        failureClass ?? null,
        storedUrl(deployed?.deploymentUrl),
        storedUrl(deployed?.previewUrl),
      ],
    ),
  );
  return rows[0];
}

/** Fails a build that could not be prepared; undefined unless this call failed it (it was initializing). */
async function failInitializing(env: ManagementEnv, buildUuid: string): Promise<StoppedBuild | undefined> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query<StoppedBuild>(
      `UPDATE builds SET status = 'stopped', build_outcome = 'failed', failure_class = 'initialization',
              stopped_at = clock_timestamp() WHERE build_uuid = $1 AND status = 'initializing'
        RETURNING ${STOPPED_BUILD_COLUMNS}`,
      [buildUuid],
    ),
  );
  return rows[0];
}

/**
 * Cancels a build this object never started (queued, or admitted a moment ago), in one statement: the row
 * as it now is, and whether this call cancelled it. Undefined for an unknown build.
 */
async function cancelUnstarted(env: ManagementEnv, buildUuid: string): Promise<CancelledRow | undefined> {
  const rows = await withDb(env.HYPERDRIVE, (db) =>
    db.query<CancelledRow>(
      `WITH changed AS (
         UPDATE builds SET status = 'stopped', build_outcome = 'cancelled', stopped_at = clock_timestamp()
          WHERE build_uuid = $1 AND status IN ('queued', 'initializing') RETURNING status, build_outcome, ${STOPPED_BUILD_COLUMNS})
       SELECT status, build_outcome, ${STOPPED_BUILD_COLUMNS}, true AS changed FROM changed
       UNION ALL SELECT status, build_outcome, ${STOPPED_BUILD_COLUMNS}, false FROM builds
        WHERE build_uuid = $1 AND NOT EXISTS (SELECT 1 FROM changed)`,
      [buildUuid],
    ),
  );
  return rows[0];
}
