import { WorkerEntrypoint } from "cloudflare:workers";
import { withLogTags } from "workers-tagged-logger";
import type {
  BuildManagementApi,
  CancelResult,
  LogPage,
  PurgeItem,
  PurgeResult,
  QueuedBuildStatus,
  ReadLogsOptions,
} from "../shared/management-api";
import { BuildBuddy } from "./buddy";
import { handleCallback } from "./callbacks";
import { BuildCapacity } from "./capacity";
import { BuildContainer } from "./container";
import { buddyOf, logFor, type ManagementEnv, schedulerOf, schedulersFor } from "./env";
import { clearWorkerCache, purgeNow } from "./purges";
import { BuildScheduler, type SchedulerLimits } from "./scheduler";

export type { ManagementEnv };
export { BuildBuddy, BuildCapacity, BuildContainer, BuildScheduler };

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

  async buildQueued(accountId?: string): Promise<void> {
    await Promise.all((await schedulersFor(this.env, accountId)).map((scheduler) => scheduler.wake()));
  }

  async reportStatuses(reports: QueuedBuildStatus[], link: string): Promise<void> {
    const origin = new URL(link);
    if ((origin.protocol !== "https:" && origin.protocol !== "http:") || origin.origin !== link) {
      throw new RangeError(`invalid link origin "${String(link).slice(0, 80)}"`);
    }
    for (const r of reports) {
      buildId(r.build_uuid);
      if (r.state !== "queued" && r.state !== "skipped") throw new RangeError(`unknown status "${r.state}"`);
    }
    await Promise.all(
      reports.map((r) =>
        buddyOf(this.env, buildId(r.build_uuid)).reportStatus(
          r.build_uuid,
          r.state === "queued" ? { state: "queued" } : { state: "stopped", outcome: "skipped" },
          link,
        ),
      ),
    );
  }

  async cancelBuild(buildUuid: string): Promise<CancelResult> {
    return buddyOf(this.env, buildId(buildUuid)).cancel(buildUuid);
  }

  async readLogs(buildUuid: string, cursor: string | null, options?: ReadLogsOptions): Promise<LogPage> {
    return buddyOf(this.env, buildId(buildUuid)).readLogs(cursor, options);
  }

  async runPurges(items: PurgeItem[]): Promise<PurgeResult> {
    for (const item of items) {
      if (item.kind !== "build" && item.kind !== "cache")
        throw new RangeError(`unknown purge kind "${item.kind}"`);
      buildId(item.target);
    }
    return purgeNow(this.env, items);
  }

  async clearCache(workerId: string): Promise<{ deleted: number }> {
    return { deleted: await clearWorkerCache(this.env, workerId) };
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
