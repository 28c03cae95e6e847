/**
 * Rows as the Client Worker reads them, the account-scoped lookups every route starts from, and the
 * JSON each resource is answered as. A lookup of another account's object finds nothing, exactly like a
 * missing one, so the API answers 404 for both.
 */

import { DEFAULT_STATUS_API_URL } from "../lib/commit-status";
import type { Db } from "../shared/db";
import type { BuildOutcome, BuildStatus } from "../shared/protocol";
import { NotFoundError } from "./envelope";
import { CURSOR_TIMESTAMP_SQL } from "./pagination";
import { isUuid } from "./schemas";

export interface WorkerRow {
  id: string;
  account_id: string;
  name: string;
  created_at: Date;
}

export interface TriggerRow {
  id: string;
  account_id: string;
  worker_id: string;
  repo_connection_id: string;
  repo_url: string;
  provider: "github" | "gitlab";
  production_branch: string;
  build_non_production_branches: boolean;
  build_command: string | null;
  deploy_command: string;
  non_production_deploy_command: string;
  root_directory: string;
  path_includes: string[];
  path_excludes: string[];
  build_caching_enabled: boolean;
  /** The connection's commit status API; null: the provider's public API. */
  status_api_url: string | null;
  /** The connection has a commit status token (which is never read back). */
  status_token_set: boolean;
  created_at: Date;
}

export interface BuildVariableRow {
  name: string;
  type: "text" | "secret";
  value: string | null;
}

export interface BuildRow {
  build_uuid: string;
  account_id: string;
  worker_id: string;
  /** Null once the trigger that made the build was deleted. */
  trigger_id: string | null;
  status: BuildStatus;
  build_outcome: BuildOutcome | null;
  failure_class: string | null;
  branch: string;
  commit_hash: string | null;
  commit_message: string | null;
  production: boolean;
  source: "webhook" | "api" | "deploy_hook";
  created_at: Date;
  initializing_at: Date | null;
  running_at: Date | null;
  stopped_at: Date | null;
  /** Where the production deploy went, as wrangler told the runner; null when nothing was deployed. */
  deployment_url: string | null;
  /** The preview URL of a non-production version upload; null when there was none. */
  preview_url: string | null;
}

export const WORKER_COLUMNS = "id, account_id, name, created_at";
export const TRIGGER_SELECT = `SELECT t.id, t.account_id, t.worker_id, t.repo_connection_id, rc.repo_url, rc.provider,
  t.production_branch, t.build_non_production_branches, t.build_command, t.deploy_command,
  t.non_production_deploy_command, t.root_directory, t.path_includes, t.path_excludes,
  t.build_caching_enabled, rc.status_api_url, rc.status_token_sealed IS NOT NULL AS status_token_set, t.created_at
  FROM triggers t JOIN repo_connections rc ON rc.id = t.repo_connection_id`;
export const BUILD_COLUMNS = `build_uuid, account_id, worker_id, trigger_id, status, build_outcome, failure_class,
  branch, commit_hash, commit_message, production, source, created_at, initializing_at, running_at, stopped_at,
  deployment_url, preview_url`;

/** Finds a Worker of the account by id or name. */
export async function findWorker(db: Db, accountId: string, ref: string, lock = false): Promise<WorkerRow> {
  const worker = workerRef(ref, "", 2);
  const rows = await db.query<WorkerRow>(
    `SELECT ${WORKER_COLUMNS} FROM workers WHERE account_id = $1 AND ${worker.sql}${lock ? " FOR UPDATE" : ""}`,
    [accountId, worker.value],
  );
  if (rows[0] === undefined) throw new NotFoundError(`Worker ${ref}`);
  return rows[0];
}

/** The SQL condition that picks a Worker by `ref` (its id or its name) as parameter `$param`, and the value to bind. */
function workerRef(ref: string, column: string, param: number): { sql: string; value: string } {
  return isUuid(ref)
    ? { sql: `${column}id = $${param}::uuid`, value: ref.toLowerCase() }
    : { sql: `${column}name = $${param}`, value: ref };
}

export interface BuildListFilter {
  status: BuildStatus | null;
  branch: string | null;
  /** Keyset cursor: rows strictly before this `(created_at, build_uuid)`. */
  before: { createdAt: string; id: string } | null;
  limit: number;
}

/**
 * A page of a Worker's builds, newest first, in one statement: the Worker is looked up by id or name and
 * its builds listed in the same round trip, so a missing Worker (no row at all) is told from a Worker with
 * no builds (one row whose build columns are null).
 */
export async function listWorkerBuilds(
  db: Db,
  accountId: string,
  ref: string,
  filter: BuildListFilter,
): Promise<(BuildRow & { cursor_ts: string })[]> {
  const worker = workerRef(ref, "", 2);
  const rows = await db.query<BuildRow & { cursor_ts: string | null; listed_worker: string }>(
    `SELECT w.id AS listed_worker, b.* FROM (SELECT id FROM workers WHERE account_id = $1 AND ${worker.sql}) w
     LEFT JOIN LATERAL (
       SELECT ${BUILD_COLUMNS}, ${CURSOR_TIMESTAMP_SQL} AS cursor_ts FROM builds
        WHERE account_id = $1 AND worker_id = w.id AND ($3::text IS NULL OR status = $3)
          AND ($7::text IS NULL OR branch = $7) AND ($4::timestamptz IS NULL OR (created_at, build_uuid) < ($4::timestamptz, $5::uuid))
        ORDER BY created_at DESC, build_uuid DESC LIMIT $6) b ON true`,
    [
      accountId,
      worker.value,
      filter.status,
      filter.before?.createdAt ?? null,
      filter.before?.id ?? null,
      filter.limit,
      filter.branch,
    ],
  );
  if (rows.length === 0) throw new NotFoundError(`Worker ${ref}`);
  return rows.filter((r): r is typeof r & { cursor_ts: string } => r.build_uuid !== null);
}

export async function findTrigger(db: Db, accountId: string, id: string, lock = false): Promise<TriggerRow> {
  const rows = await db.query<TriggerRow>(
    `${TRIGGER_SELECT} WHERE t.account_id = $1 AND t.id = $2${lock ? " FOR UPDATE OF t" : ""}`,
    [accountId, id],
  );
  if (rows[0] === undefined) throw new NotFoundError(`trigger ${id}`);
  return rows[0];
}

export async function findBuild(db: Db, accountId: string, uuid: string): Promise<BuildRow> {
  const rows = await db.query<BuildRow>(
    `SELECT ${BUILD_COLUMNS} FROM builds WHERE account_id = $1 AND build_uuid = $2`,
    [accountId, uuid],
  );
  if (rows[0] === undefined) throw new NotFoundError(`build ${uuid}`);
  return rows[0];
}

export async function triggerVariables(db: Db, triggerId: string): Promise<BuildVariableRow[]> {
  return db.query<BuildVariableRow>(
    "SELECT name, type, value FROM build_variables WHERE trigger_id = $1 ORDER BY name",
    [triggerId],
  );
}

/** Creates the account on its first write. */
export async function ensureAccount(db: Db, accountId: string): Promise<void> {
  await db.query("INSERT INTO accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", [accountId]);
}

const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());

export function workerJson(row: WorkerRow) {
  return { id: row.id, name: row.name, created_at: iso(row.created_at) };
}

/** The newest build of each listed Worker, as `row_to_json` gives it (timestamps as text). */
export const LAST_BUILD_SQL = `(SELECT row_to_json(b) FROM (SELECT ${BUILD_COLUMNS} FROM builds
  WHERE account_id = w.account_id AND worker_id = w.id ORDER BY created_at DESC, build_uuid DESC LIMIT 1) b)`;

type JsonBuildRow = Omit<BuildRow, "created_at" | "initializing_at" | "running_at" | "stopped_at"> &
  Record<"created_at" | "initializing_at" | "running_at" | "stopped_at", string | null>;

/** A Worker in a list: with its newest build, or null before its first. */
export function listedWorkerJson(row: WorkerRow & { last_build: JsonBuildRow | null }) {
  const b = row.last_build;
  const date = (text: string | null) => (text === null ? null : new Date(text));
  return {
    ...workerJson(row),
    last_build:
      b === null
        ? null
        : buildJson({
            ...b,
            created_at: new Date(b.created_at as string),
            initializing_at: date(b.initializing_at),
            running_at: date(b.running_at),
            stopped_at: date(b.stopped_at),
          }),
  };
}

export function webhookPath(provider: "github" | "gitlab"): string {
  return `/webhooks/${provider}`;
}

/**
 * A trigger as the API shows it: secrets are listed by name and type, never with a value; of the
 * connection's status token only whether there is one.
 */
export function triggerJson(row: TriggerRow, variables: BuildVariableRow[]) {
  return {
    id: row.id,
    worker_id: row.worker_id,
    repo_url: row.repo_url,
    provider: row.provider,
    production_branch: row.production_branch,
    build_non_production_branches: row.build_non_production_branches,
    build_command: row.build_command,
    deploy_command: row.deploy_command,
    non_production_deploy_command: row.non_production_deploy_command,
    root_directory: row.root_directory,
    path_includes: row.path_includes,
    path_excludes: row.path_excludes,
    build_caching_enabled: row.build_caching_enabled,
    env_vars: variables.map((v) => ({
      name: v.name,
      type: v.type,
      value: v.type === "secret" ? null : v.value,
    })),
    webhook_url_path: webhookPath(row.provider),
    status_api_url: row.status_api_url ?? DEFAULT_STATUS_API_URL[row.provider],
    status_token_set: row.status_token_set,
    created_at: iso(row.created_at),
  };
}

export function buildJson(row: BuildRow) {
  return {
    build_uuid: row.build_uuid,
    worker_id: row.worker_id,
    trigger_id: row.trigger_id,
    status: row.status,
    build_outcome: row.build_outcome,
    failure_class: row.failure_class,
    branch: row.branch,
    commit_hash: row.commit_hash,
    commit_message: row.commit_message,
    production: row.production,
    source: row.source,
    created_at: iso(row.created_at),
    initializing_at: iso(row.initializing_at),
    running_at: iso(row.running_at),
    stopped_at: iso(row.stopped_at),
    deployment_url: row.deployment_url ?? null,
    preview_url: row.preview_url ?? null,
  };
}
