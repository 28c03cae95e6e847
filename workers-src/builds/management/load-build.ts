import { openSecret, sealingKey } from "../lib/secret-box";
import { cloudflareApiToken } from "../shared/cloudflare-token";
import { withDb } from "../shared/db";
import type { BuildStatus, StartBuildRequest } from "../shared/protocol";
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
  /** The repository connection has a status token: the build reports its state on its commit. */
  reports_status?: boolean;
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
              t.root_directory, t.build_caching_enabled, r.repo_url,
              r.status_token_sealed IS NOT NULL AS reports_status
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

/** What a build is given to reach the local Cloudflare API stand-in (the local target only). */
export interface CloudflareApiAccess {
  /** `CLOUDFLARE_API_BASE_URL` */
  baseUrl: string;
  /** `CLOUDFLARE_ACCOUNT_ID`: the build's own account. */
  accountId: string;
  /** `CLOUDFLARE_API_TOKEN`: the stand-in's token for that account alone. */
  token: string;
}

/** The build variables the platform sets for the stand-in; the token is a secret. */
const CLOUDFLARE_API_TOKEN = "CLOUDFLARE_API_TOKEN";

/**
 * The stand-in's base URL, the build's account id (as the platform stores it) and its token for that
 * account, when the Worker has both the base URL and the token secret (the local target sets them); else
 * undefined and builds get nothing.
 */
export async function cloudflareApiAccess(
  env: Pick<ManagementEnv, "CLOUDFLARE_API_BASE_URL" | "CLOUDFLARE_API_TOKEN_SECRET">,
  build: Pick<BuildToStart, "account_id">,
): Promise<CloudflareApiAccess | undefined> {
  const baseUrl = env.CLOUDFLARE_API_BASE_URL;
  const secret = env.CLOUDFLARE_API_TOKEN_SECRET;
  if (!baseUrl || !secret) return undefined;
  const accountId = build.account_id;
  return { baseUrl, accountId, token: await cloudflareApiToken(secret, accountId) };
}

/**
 * The build's variables, and which of them are secrets: with `access`, the stand-in's three beneath the
 * trigger's own (a build variable of the same name wins), its token among the secrets when it is the one
 * the build gets, so that the runner masks it in every log line. Pure.
 */
export function buildVariables(
  build: Pick<BuildToStart, "env" | "secretNames">,
  access: CloudflareApiAccess | undefined,
): { env: Record<string, string>; secretNames: string[] } {
  if (!access) return { env: build.env, secretNames: build.secretNames };
  const env = {
    CLOUDFLARE_API_BASE_URL: access.baseUrl,
    CLOUDFLARE_ACCOUNT_ID: access.accountId,
    [CLOUDFLARE_API_TOKEN]: access.token,
    ...build.env,
  };
  const ours = !Object.hasOwn(build.env, CLOUDFLARE_API_TOKEN);
  return { env, secretNames: ours ? [...build.secretNames, CLOUDFLARE_API_TOKEN] : build.secretNames };
}

export interface StartLimits {
  startTimeoutSeconds: number;
  timeoutMinutes: number;
  heartbeatTimeoutMs: number;
  /** Where the runner calls back, when not where it was called from. */
  callbackUrl?: string;
  /** The deadline of the first attempt, kept by a retried start. @default now + startTimeoutSeconds */
  startDeadline?: number;
  /** The local Cloudflare API stand-in, for the build's variables (see `cloudflareApiAccess`). */
  cloudflareApi?: CloudflareApiAccess;
}

/**
 * What the runner is asked to do, and the build's deadlines. Pure. The time limit counts from when the
 * build became `initializing` (a retried start does not extend it); a non-production branch deploys with
 * the trigger's non-production command; the runner heartbeats three times per heartbeat timeout; with
 * `limits.cloudflareApi`, the build's variables include the stand-in's (see `buildVariables`).
 */
export function startRequest(
  build: BuildToStart,
  buildUuid: string,
  callbackToken: string,
  now: number,
  limits: StartLimits,
): { request: StartBuildRequest; startDeadline: number; runDeadline: number } {
  const initializingAt = build.initializing_at ? new Date(build.initializing_at).getTime() : now;
  const variables = buildVariables(build, limits.cloudflareApi);
  const runDeadline = initializingAt + limits.timeoutMinutes * 60_000;
  return {
    startDeadline: limits.startDeadline ?? now + limits.startTimeoutSeconds * 1000,
    runDeadline,
    request: {
      build_uuid: buildUuid,
      ...(limits.callbackUrl ? { callback_url: limits.callbackUrl } : {}),
      callback_token: callbackToken,
      repo_url: build.repo_url,
      commit_hash: build.commit_hash,
      branch: build.branch,
      root_directory: build.root_directory,
      build_command: build.build_command,
      deploy_command: build.production ? build.deploy_command : build.non_production_deploy_command,
      env: variables.env,
      secret_names: variables.secretNames,
      cache_enabled: build.build_caching_enabled,
      timeout_seconds: Math.max(1, Math.ceil((runDeadline - now) / 1000)),
      heartbeat_seconds: Math.max(1, Math.floor(limits.heartbeatTimeoutMs / 3000)),
    },
  };
}
