/**
 * Queueing builds, the one path by which the API, push webhooks and deploy hooks start a build. A push or
 * deploy hook supersedes the queued builds that pushes and hooks made for its trigger and branch: only the
 * newest commit is worth building. A build asked for through the API is the user's explicit choice (a
 * commit, a rebuild): it neither supersedes nor is superseded.
 */
import type { Context } from "hono";
import type { Db } from "../shared/db";
import type { QueuedBuildStatus } from "../shared/management-api";
import { buildDataPoint, STOPPED_BUILD_COLUMNS, type StoppedBuild } from "../shared/metrics";
import type { AppEnv } from "./env";
import { errorFields, logger } from "./logger";
import { BUILD_COLUMNS, type BuildRow } from "./records";

export interface QueueBuildRequest {
  accountId: string;
  workerId: string;
  triggerId: string;
  source: BuildRow["source"];
  branch: string;
  /** Null: the runner builds the branch's head. */
  commitHash: string | null;
  commitMessage: string | null;
  production: boolean;
}

/** Longest commit message kept with a build (its first line only). */
export const MAX_COMMIT_MESSAGE_CHARS = 1000;

/** The first line of a commit message, cut to {@link MAX_COMMIT_MESSAGE_CHARS}. */
export function commitTitle(message: string): string | null {
  const first = message.split(/\r?\n/, 1)[0]!.trim();
  return first === "" ? null : first.slice(0, MAX_COMMIT_MESSAGE_CHARS);
}

/** Whether the build's repository connection has a status token, so that its commit statuses are reported. */
export interface ReportsStatus {
  build_uuid: string;
  reports_status: boolean;
}

export interface QueuedBuilds {
  /** One per request, in order. */
  queued: (BuildRow & ReportsStatus)[];
  superseded: (StoppedBuild & ReportsStatus)[];
}

const REPORTS_STATUS_SQL = `build_uuid, (SELECT rc.status_token_sealed IS NOT NULL FROM triggers t
  JOIN repo_connections rc ON rc.id = t.repo_connection_id WHERE t.id = builds.trigger_id) AS reports_status`;

/** Queues builds in one transaction: all or none. */
export async function queueBuilds(db: Db, requests: QueueBuildRequest[]): Promise<QueuedBuilds> {
  if (requests.length === 0) return { queued: [], superseded: [] };
  return db.transaction((tx) => queueBuildsInTransaction(tx, requests));
}

/**
 * Queues builds inside the caller's transaction. Each takes a transaction-scoped advisory lock on its
 * trigger and branch first, so two pushes racing on one branch still leave exactly one build queued.
 */
export async function queueBuildsInTransaction(tx: Db, requests: QueueBuildRequest[]): Promise<QueuedBuilds> {
  const queued: QueuedBuilds["queued"] = [];
  const superseded: QueuedBuilds["superseded"] = [];
  for (const r of requests) {
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 0))", [
      r.triggerId,
      r.branch,
    ]);
    if (r.source !== "api") {
      const skipped = await tx.query<StoppedBuild & ReportsStatus>(
        `UPDATE builds SET status = 'stopped', build_outcome = 'skipped', stopped_at = clock_timestamp()
         WHERE trigger_id = $1 AND branch = $2 AND status = 'queued' AND source <> 'api'
         RETURNING ${STOPPED_BUILD_COLUMNS}, ${REPORTS_STATUS_SQL}`,
        [r.triggerId, r.branch],
      );
      superseded.push(...skipped);
    }
    const rows = await tx.query<BuildRow & ReportsStatus>(
      `INSERT INTO builds (account_id, worker_id, trigger_id, source, branch, commit_hash, commit_message, production)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${BUILD_COLUMNS}, ${REPORTS_STATUS_SQL}`,
      [r.accountId, r.workerId, r.triggerId, r.source, r.branch, r.commitHash, r.commitMessage, r.production],
    );
    queued.push(rows[0]!);
  }
  return { queued, superseded };
}

/**
 * One Analytics Engine point per superseded build, as the Build Management Worker writes for every build
 * it stops: call it once the transaction that superseded them has committed.
 */
export function recordSuperseded(c: Context<AppEnv>, superseded: StoppedBuild[]): void {
  for (const build of superseded) {
    c.env.BUILD_METRICS?.writeDataPoint(buildDataPoint(build, "skipped", undefined, c.env.RELEASE));
  }
}

/**
 * Tells the scheduler that builds of these accounts are waiting, after the response (with sharded
 * schedulers, the shard of each account). A failure is only logged: the scheduler's alarm picks the
 * queue up anyway.
 */
export function wakeScheduler(c: Context<AppEnv>, accountIds: Iterable<string>): void {
  const wake = async (accountId: string) => {
    try {
      await c.env.MANAGEMENT.buildQueued(accountId);
    } catch (err) {
      logger
        .withFields({ error: errorFields(err) })
        .warn("could not wake the build scheduler; its alarm will pick the queue up");
    }
  };
  c.executionCtx.waitUntil(Promise.all([...new Set(accountIds)].map(wake)));
}

/**
 * Has the Build Management Worker report, on their commits, the builds just queued or superseded whose
 * repository connection has a status token, after the response. A failure is only logged: a build
 * still reports its later states itself.
 */
export function reportStatuses(
  c: Context<AppEnv>,
  queued: ReportsStatus[],
  superseded: ReportsStatus[] = [],
): void {
  const reports: QueuedBuildStatus[] = [
    ...superseded
      .filter((b) => b.reports_status)
      .map((b) => ({ build_uuid: b.build_uuid, state: "skipped" as const })),
    ...queued
      .filter((b) => b.reports_status)
      .map((b) => ({ build_uuid: b.build_uuid, state: "queued" as const })),
  ];
  if (reports.length === 0) return;
  const send = async () => {
    try {
      await c.env.MANAGEMENT.reportStatuses(reports, new URL(c.req.url).origin);
    } catch (err) {
      logger.withFields({ error: errorFields(err) }).warn("could not report the builds' commit statuses");
    }
  };
  c.executionCtx.waitUntil(send());
}
