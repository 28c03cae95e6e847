import { WorkersLogger } from "workers-tagged-logger";
import type { BuildBuddy } from "./buddy";
import type { BuildContainer } from "./container";
import type { BuildScheduler } from "./scheduler";

export interface ManagementEnv {
  BUILD_SCHEDULER: DurableObjectNamespace<BuildScheduler>;
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
  COMPUTE_BACKEND: string;
  RUNNER_URL: string;
  /** Base URL the runner calls back; without it the runner uses the one it was started with. */
  CALLBACK_URL?: string;
  RUNNER_TOKEN: string;
  BUILD_VARIABLES_KEY: string;
  RELEASE: string;
  ALLOW_FILE_REPOS: string;
}

/** A positive number from a var, or `fallback` when the var is missing or malformed. */
export function numberVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The scheduler every build goes through: one per deployment, so that the global limit holds. */
export function schedulerOf(env: ManagementEnv) {
  return env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("global"));
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
