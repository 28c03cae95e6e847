import { openSecret, sealingKey } from "../lib/secret-box";
import { withDb } from "../shared/db";
import type { BuildStatus } from "../shared/protocol";
import type { ManagementEnv } from "./env";

export interface BuildToStart {
  account_id: string;
  worker_id: string;
  trigger_id: string;
  branch: string;
  commit_hash: string | null;
  production: boolean;
  status: BuildStatus;
  initializing_at: Date | null;
  build_command: string | null;
  deploy_command: string;
  non_production_deploy_command: string;
  root_directory: string;
  build_caching_enabled: boolean;
  repo_url: string;
  /** The trigger's build variables, secrets unsealed. */
  env: Record<string, string>;
  /** Which of `env` are secrets (the runner masks their values). */
  secretNames: string[];
}

/**
 * A build the scheduler admitted, with its trigger, repository and variables; undefined when it is not
 * `initializing` (cancelled meanwhile, or unknown). Secrets are unsealed here and nowhere else; a secret
 * that does not open (another key, a row copied from another variable) throws.
 */
export async function loadBuild(env: ManagementEnv, buildUuid: string): Promise<BuildToStart | undefined> {
  const { build, variables } = await withDb(env.HYPERDRIVE, async (db) => {
    const [row] = await db.query<Omit<BuildToStart, "env" | "secretNames">>(
      `SELECT b.account_id, b.worker_id, b.trigger_id, b.branch, b.commit_hash, b.production, b.status,
              b.initializing_at, t.build_command, t.deploy_command, t.non_production_deploy_command,
              t.root_directory, t.build_caching_enabled, r.repo_url
         FROM builds b JOIN triggers t ON t.id = b.trigger_id JOIN repo_connections r ON r.id = t.repo_connection_id
        WHERE b.build_uuid = $1`,
      [buildUuid],
    );
    const vars = row
      ? await db.query<{ name: string; type: string; value: string | null; sealed_value: string | null }>(
          "SELECT name, type, value, sealed_value FROM build_variables WHERE trigger_id = $1 ORDER BY name",
          [row.trigger_id],
        )
      : [];
    return { build: row, variables: vars };
  });
  if (build?.status !== "initializing") return undefined;
  const key = await sealingKey(env.BUILD_VARIABLES_KEY);
  const values: Record<string, string> = {};
  const secretNames: string[] = [];
  for (const v of variables) {
    if (v.type === "secret") {
      values[v.name] = await openSecret(key, v.sealed_value ?? "", `${build.trigger_id}:${v.name}`);
      secretNames.push(v.name);
    } else {
      values[v.name] = v.value ?? "";
    }
  }
  return { ...build, env: values, secretNames };
}
