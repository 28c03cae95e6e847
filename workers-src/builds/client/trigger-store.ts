/**
 * Writing triggers: their repository connection (one per account and repository, holding the webhook
 * secret), their columns and their build variables. Secrets are sealed before they reach Postgres,
 * bound to the trigger and variable name (or, for webhook secrets, to the connection).
 */
import { statusTokenAad } from "../lib/commit-status";
import { openSecret, sealSecret } from "../lib/secret-box";
import { normalizeRepoUrl } from "../lib/webhooks";
import type { Db } from "../shared/db";
import { ConflictError, ValidationError } from "./envelope";
import type { CreateTriggerBody, UpdateTriggerBody } from "./schemas";
import { newWebhookSecret } from "./tokens";

export interface RepoConnection {
  id: string;
  provider: "github" | "gitlab";
  /** The webhook secret in the clear, to show the user once per trigger created. */
  webhookSecret: string;
}

/** The provider a repository URL suggests when the request does not name one. */
export function providerOf(repoUrl: string): "github" | "gitlab" {
  let host = "";
  try {
    host = new URL(repoUrl).hostname.toLowerCase();
  } catch {
    return "github";
  }
  return host.includes("gitlab") ? "gitlab" : "github";
}

/** The account's connection to the repository, created with a new webhook secret on first use. */
export async function connectRepo(
  tx: Db,
  key: CryptoKey,
  accountId: string,
  repoUrl: string,
  provider: "github" | "gitlab" | undefined,
): Promise<RepoConnection> {
  const repoKey = normalizeRepoUrl(repoUrl);
  const select = () =>
    tx.query<{ id: string; provider: "github" | "gitlab"; webhook_secret_sealed: string }>(
      "SELECT id, provider, webhook_secret_sealed FROM repo_connections WHERE account_id = $1 AND repo_key = $2",
      [accountId, repoKey],
    );
  let existing = (await select())[0];
  if (existing === undefined) {
    const id = crypto.randomUUID();
    const secret = newWebhookSecret();
    const inserted = await tx.query<{ id: string }>(
      `INSERT INTO repo_connections (id, account_id, provider, repo_url, repo_key, webhook_secret_sealed)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, repo_key) DO NOTHING RETURNING id`,
      [id, accountId, provider ?? providerOf(repoUrl), repoUrl, repoKey, await sealSecret(key, secret, id)],
    );
    if (inserted[0] !== undefined)
      return { id, provider: provider ?? providerOf(repoUrl), webhookSecret: secret };
    // Another request connected the repository meanwhile: use its connection.
    existing = (await select())[0]!;
  }
  if (provider !== undefined && provider !== existing.provider) {
    throw new ConflictError(
      `repository ${repoUrl} is already connected as a ${existing.provider} repository; omit provider or use ${existing.provider}`,
    );
  }
  return {
    id: existing.id,
    provider: existing.provider,
    webhookSecret: await openSecret(key, existing.webhook_secret_sealed, existing.id),
  };
}

/**
 * Sets what the request gives of the connection's commit status settings: its API URL (null: the
 * provider's) and its token (null: none), sealed for the connection. Left out: kept as they are. The
 * connection is shared by the account's triggers on the repository, and so are these.
 */
export async function setStatusReporting(
  tx: Db,
  key: CryptoKey,
  connectionId: string,
  body: Pick<CreateTriggerBody, "status_api_url" | "status_token">,
): Promise<void> {
  const columns: [string, string | null][] = [];
  if (body.status_api_url !== undefined) columns.push(["status_api_url", body.status_api_url]);
  if (body.status_token !== undefined) {
    const sealed =
      body.status_token === null
        ? null
        : await sealSecret(key, body.status_token, statusTokenAad(connectionId));
    columns.push(["status_token_sealed", sealed]);
  }
  if (columns.length === 0) return;
  await tx.query(
    `UPDATE repo_connections SET ${columns.map(([c], i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`,
    [connectionId, ...columns.map(([, v]) => v)],
  );
}

/** Columns of `triggers` that requests set by the same name. */
const SETTABLE_COLUMNS = [
  "production_branch",
  "build_non_production_branches",
  "build_command",
  "deploy_command",
  "non_production_deploy_command",
  "root_directory",
  "path_includes",
  "path_excludes",
  "build_caching_enabled",
] as const;

function givenColumns(body: CreateTriggerBody | UpdateTriggerBody): [string, unknown][] {
  return SETTABLE_COLUMNS.filter((col) => body[col] !== undefined).map((col) => [col, body[col]]);
}

/** Inserts the trigger row; columns the body leaves out take the table's defaults. */
export async function insertTrigger(
  tx: Db,
  ids: { id: string; accountId: string; workerId: string; connectionId: string },
  body: CreateTriggerBody,
): Promise<void> {
  const columns: [string, unknown][] = [
    ["id", ids.id],
    ["account_id", ids.accountId],
    ["worker_id", ids.workerId],
    ["repo_connection_id", ids.connectionId],
    ...givenColumns(body),
  ];
  await tx.query(
    `INSERT INTO triggers (${columns.map(([c]) => c).join(", ")})
     VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`,
    columns.map(([, v]) => v),
  );
}

export async function updateTrigger(
  tx: Db,
  id: string,
  connectionId: string | undefined,
  body: UpdateTriggerBody,
): Promise<void> {
  const columns = givenColumns(body);
  if (connectionId !== undefined) columns.push(["repo_connection_id", connectionId]);
  if (columns.length === 0) return;
  await tx.query(
    `UPDATE triggers SET ${columns.map(([c], i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`,
    [id, ...columns.map(([, v]) => v)],
  );
}

export interface VariableInput {
  name: string;
  type: "text" | "secret";
  /** Absent or null on a secret: keep the value stored for that name. */
  value?: string | null;
}

/**
 * Replaces the trigger's build variables with `vars`. A secret given without a value keeps the sealed
 * value stored under its name, which must exist and be a secret.
 */
export async function replaceVariables(
  tx: Db,
  key: CryptoKey,
  triggerId: string,
  vars: VariableInput[],
): Promise<void> {
  const stored = await tx.query<{ name: string; sealed_value: string }>(
    "SELECT name, sealed_value FROM build_variables WHERE trigger_id = $1 AND type = 'secret'",
    [triggerId],
  );
  const kept = new Map(stored.map((s) => [s.name, s.sealed_value]));
  const missing: string[] = [];
  const rows = await Promise.all(
    vars.map(async (v, i) => {
      if (v.type === "text") return [v.name, "text", v.value ?? "", null] as const;
      if (typeof v.value === "string") {
        return [v.name, "secret", null, await sealSecret(key, v.value, `${triggerId}:${v.name}`)] as const;
      }
      const sealed = kept.get(v.name);
      if (sealed === undefined) {
        missing.push(`env_vars[${i}].value: no secret named ${v.name} is stored to keep; send its value`);
      }
      return [v.name, "secret", null, sealed ?? ""] as const;
    }),
  );
  if (missing.length > 0) throw new ValidationError(missing);
  await tx.query("DELETE FROM build_variables WHERE trigger_id = $1", [triggerId]);
  if (rows.length === 0) return;
  await tx.query(
    `INSERT INTO build_variables (trigger_id, name, type, value, sealed_value)
     SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])`,
    [triggerId, rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[3])],
  );
}
