import { WorkersLogger } from "workers-tagged-logger";
import { ALLOW_FILE_REPOS, CALLBACK_URL, RUNNER_TOKEN, RUNNER_URL } from "../shared/vars";
import { accountHash, shardName, shardOfHash } from "./admission";
import type { BuildBuddy } from "./buddy";
import type { BuildCapacity } from "./capacity";
import type { BuildContainer } from "./container";
import type { BuildScheduler } from "./scheduler";

export interface ManagementEnv {
  BUILD_SCHEDULER: DurableObjectNamespace<BuildScheduler>;
  /** Leases the global capacity to the scheduler's shards when SCHEDULER_SHARDS is above 1. */
  BUILD_CAPACITY: DurableObjectNamespace<BuildCapacity>;
  BUILD_BUDDY: DurableObjectNamespace<BuildBuddy>;
  /** One per build when COMPUTE_BACKEND is "container". */
  BUILD_CONTAINER: DurableObjectNamespace<BuildContainer>;
  HYPERDRIVE: Hyperdrive;
  BUILD_CACHE: R2Bucket;
  BUILD_METRICS: AnalyticsEngineDataset;
  BUILD_TIMEOUT_MINUTES: string;
  BUILD_START_TIMEOUT_SECONDS: string;
  /** A running build whose runner is silent this long fails its health check. */
  HEARTBEAT_TIMEOUT_SECONDS: string;
  MAX_CONCURRENT_BUILDS: string;
  MAX_CONCURRENT_BUILDS_GLOBAL: string;
  /** "on": a queued build wakes the scheduler at once; "off": only its alarm finds builds. */
  SCHEDULER_WAKE: string;
  SCHEDULER_POLL_SECONDS: string;
  /** Scheduler objects that share the accounts (by hash); 1: one scheduler for all. */
  SCHEDULER_SHARDS?: string;
  /** How long a shard's lease of global capacity lasts unless renewed. */
  SCHEDULER_LEASE_SECONDS?: string;
  COMPUTE_BACKEND: string;
  [RUNNER_URL]: string;
  /** Base URL the runner calls back; without it the runner uses the one it was started with. */
  [CALLBACK_URL]?: string;
  [RUNNER_TOKEN]: string;
  BUILD_VARIABLES_KEY: string;
  /**
   * The local Cloudflare API stand-in's base URL (`http://127.0.0.1:<port>/client/v4`); only the local
   * target sets it, with CLOUDFLARE_API_TOKEN_SECRET. Both set: every build gets it as
   * `CLOUDFLARE_API_BASE_URL`, with its account id and a token for that account alone.
   */
  CLOUDFLARE_API_BASE_URL?: string;
  /** The stand-in's secret (secret), from which each account's token is derived (`cloudflareApiToken`). */
  CLOUDFLARE_API_TOKEN_SECRET?: string;
  RELEASE: string;
  [ALLOW_FILE_REPOS]: string;
}

/** A positive number from a var, or `fallback` when the var is missing or malformed. */
export function numberVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** How many scheduler objects share the accounts (`SCHEDULER_SHARDS`, 1 to 64). @default 1 */
export function shardCount(env: Pick<ManagementEnv, "SCHEDULER_SHARDS">): number {
  return Math.min(64, Math.floor(numberVar(env.SCHEDULER_SHARDS, 1)));
}

/** Scheduler shard `index` of `count`; with one shard, the scheduler of the whole deployment ("global"). */
export function schedulerShard(env: ManagementEnv, index: number, count: number) {
  return env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName(shardName(index, count)));
}

/** The first scheduler: the only one by default. Its alarm also drains pending purges. */
export function schedulerOf(env: ManagementEnv) {
  return schedulerShard(env, 0, shardCount(env));
}

/** The schedulers that may admit builds of `accountId`: its shard, or every shard when it is not known. */
export async function schedulersFor(env: ManagementEnv, accountId?: string) {
  const count = shardCount(env);
  if (count === 1) return [schedulerShard(env, 0, 1)];
  if (accountId !== undefined)
    return [schedulerShard(env, shardOfHash(await accountHash(accountId), count), count)];
  return Array.from({ length: count }, (_, index) => schedulerShard(env, index, count));
}

/** Tells the scheduler of the build's account that a slot is free. */
export async function buildFinished(env: ManagementEnv, accountId: string, buildUuid: string): Promise<void> {
  for (const scheduler of await schedulersFor(env, accountId)) await scheduler.buildFinished(buildUuid);
}

/** The coordinator of a sharded scheduler's global capacity. */
export function capacityOf(env: ManagementEnv) {
  return env.BUILD_CAPACITY.get(env.BUILD_CAPACITY.idFromName("global"));
}

export function buddyOf(env: ManagementEnv, buildUuid: string) {
  return env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(buildUuid));
}

/** The Worker's structured logger, every line tagged with its source, the release and `tags`. */
export function logFor(
  env: Pick<ManagementEnv, "RELEASE">,
  tags: Record<string, string> = {},
): WorkersLogger<Record<string, string>> {
  return new WorkersLogger({ tags: { source: "build-management", release: env.RELEASE, ...tags } });
}
