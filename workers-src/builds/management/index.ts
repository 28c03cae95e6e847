import { WorkerEntrypoint } from "cloudflare:workers";
import { withLogTags } from "workers-tagged-logger";
import type { BuildManagementApi, CancelResult, LogPage, ReadLogsOptions } from "../shared/management-api";
import { BuildBuddy } from "./buddy";
import { cachePrefix, handleCallback } from "./callbacks";
import { BuildContainer } from "./container";
import { buddyOf, logFor, type ManagementEnv, schedulerOf } from "./env";
import { BuildScheduler, type SchedulerLimits } from "./scheduler";

export type { ManagementEnv };
export { BuildBuddy, BuildContainer, BuildScheduler };

const PURGE_BATCH = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function buildId(uuid: string): string {
  if (!UUID.test(uuid)) throw new RangeError(`invalid build uuid "${String(uuid).slice(0, 40)}"`);
  return uuid;
}

/** RPC surface the Client Worker reaches through its service binding (`BuildManagementApi`). */
export class BuildManagement extends WorkerEntrypoint<ManagementEnv> implements BuildManagementApi {
  async health(): Promise<{ ok: true; limits: SchedulerLimits }> {
    return { ok: true, limits: await schedulerOf(this.env).limits() };
  }

  async buildQueued(): Promise<void> {
    await schedulerOf(this.env).wake();
  }

  async cancelBuild(buildUuid: string): Promise<CancelResult> {
    return buddyOf(this.env, buildId(buildUuid)).cancel(buildUuid);
  }

  async readLogs(buildUuid: string, cursor: string | null, options?: ReadLogsOptions): Promise<LogPage> {
    return buddyOf(this.env, buildId(buildUuid)).readLogs(cursor, options);
  }

  async purgeBuilds(buildUuids: string[]): Promise<{ purged: number }> {
    let purged = 0;
    // A few BuildBuddies at a time: a Worker's history can hold thousands of builds.
    for (let i = 0; i < buildUuids.length; i += PURGE_BATCH) {
      const batch = buildUuids.slice(i, i + PURGE_BATCH).map(buildId);
      const results = await Promise.all(batch.map((uuid) => buddyOf(this.env, uuid).purge()));
      purged += results.filter((r) => r.purged).length;
    }
    return { purged };
  }

  async clearCache(workerId: string): Promise<{ deleted: number }> {
    let deleted = 0;
    let cursor: string | undefined;
    do {
      const page = await this.env.BUILD_CACHE.list({ prefix: cachePrefix(workerId), cursor });
      if (page.objects.length > 0) {
        await this.env.BUILD_CACHE.delete(page.objects.map((o) => o.key));
        deleted += page.objects.length;
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return { deleted };
  }
}

export default {
  /** The runner's callback API: `/api/builds/:uuid/{status,logs,cache}`. */
  fetch(request, env, ctx): Promise<Response> {
    return withLogTags({ source: "build-management", tags: { release: env.RELEASE } }, async () => {
      try {
        return await handleCallback(request, env, ctx);
      } catch (err) {
        logFor(env).error("callback failed", (err as Error).stack ?? String(err));
        return Response.json(
          { success: false, errors: [{ code: 10000, message: "internal error" }] },
          { status: 500 },
        );
      }
    });
  },
} satisfies ExportedHandler<ManagementEnv>;
