/** Where a build's commit statuses go, read from PostgreSQL when a report is sent. */
import {
  DEFAULT_STATUS_API_URL,
  type Provider,
  repoPath,
  statusContext,
  statusTokenAad,
} from "../lib/commit-status";
import { openSecret, sealingKey } from "../lib/secret-box";
import { withDb } from "../shared/db";
import type { ManagementEnv } from "./env";
import type { StatusSubject } from "./status-outbox";

interface SubjectRow {
  commit_hash: string | null;
  preview_url: string | null;
  worker_name: string;
  connection_id: string;
  provider: Provider;
  repo_url: string;
  status_api_url: string | null;
  status_token_sealed: string | null;
}

/**
 * The build's commit, preview URL and repository connection, with the status token unsealed; null when the
 * connection has no token, the build is unknown or its trigger was deleted. The preview URL is read from
 * the row as JSON, so that a schema without that column reads it as absent.
 */
export async function statusSubject(env: ManagementEnv, buildUuid: string): Promise<StatusSubject> {
  const [row] = await withDb(env.HYPERDRIVE, (db) =>
    db.query<SubjectRow>(
      `SELECT b.commit_hash, to_jsonb(b) ->> 'preview_url' AS preview_url, w.name AS worker_name,
              r.id AS connection_id, r.provider, r.repo_url, r.status_api_url, r.status_token_sealed
         FROM builds b JOIN workers w ON w.id = b.worker_id
         JOIN triggers t ON t.id = b.trigger_id JOIN repo_connections r ON r.id = t.repo_connection_id
        WHERE b.build_uuid = $1`,
      [buildUuid],
    ),
  );
  if (row?.status_token_sealed == null) return null;
  const path = repoPath(row.repo_url, row.provider);
  if (path === null) return null;
  const key = await sealingKey(env.BUILD_VARIABLES_KEY);
  return {
    provider: row.provider,
    apiUrl: row.status_api_url ?? DEFAULT_STATUS_API_URL[row.provider],
    repoPath: path,
    sha: row.commit_hash,
    token: await openSecret(key, row.status_token_sealed, statusTokenAad(row.connection_id)),
    context: statusContext(row.worker_name),
    previewUrl: row.preview_url,
  };
}
