import { DurableObject, WorkerEntrypoint } from "cloudflare:workers";

export interface ManagementEnv {
  BUILD_SCHEDULER: DurableObjectNamespace<BuildScheduler>;
  BUILD_BUDDY: DurableObjectNamespace<BuildBuddy>;
  HYPERDRIVE: Hyperdrive;
  BUILD_CACHE: R2Bucket;
  BUILD_METRICS: AnalyticsEngineDataset;
  BUILD_TIMEOUT_MINUTES: string;
  MAX_CONCURRENT_BUILDS: string;
}

/** One per account: admits builds up to the account's concurrency limit. */
export class BuildScheduler extends DurableObject<ManagementEnv> {
  /** Limits this scheduler enforces, read from the Worker's vars. */
  limits(): { maxConcurrentBuilds: number; timeoutMinutes: number } {
    return {
      maxConcurrentBuilds: Number(this.env.MAX_CONCURRENT_BUILDS),
      timeoutMinutes: Number(this.env.BUILD_TIMEOUT_MINUTES),
    };
  }
}

/** One per build: its status and logs live in this object's storage. */
export class BuildBuddy extends DurableObject<ManagementEnv> {
  async status(): Promise<string> {
    return (await this.ctx.storage.get<string>("status")) ?? "queued";
  }
}

/** RPC surface the Client Worker reaches through its service binding. */
export class BuildManagement extends WorkerEntrypoint<ManagementEnv> {
  async health(): Promise<{ ok: true; limits: ReturnType<BuildScheduler["limits"]> }> {
    const scheduler = this.env.BUILD_SCHEDULER.get(this.env.BUILD_SCHEDULER.idFromName("health"));
    return { ok: true, limits: await scheduler.limits() };
  }
}

export default {
  async fetch(): Promise<Response> {
    return Response.json({ service: "build-management" });
  },
} satisfies ExportedHandler<ManagementEnv>;
