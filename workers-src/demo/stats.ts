import { HttpError, type Router } from "../framework/router/router";
import { kvStore } from "../framework/storage";
import { STATS_CRON } from "./app";
import { DOCS_PREFIX } from "./docs";
import type { FrameworkAppEnv } from "./env";

/** What the scheduled tally of documents leaves in KV. */
export interface DocStats {
  documents: number;
  /** The ids of the first and last documents, by creation time; absent when there are none. */
  oldest?: string;
  newest?: string;
  computedAt: Date;
  /** The cron expression of the run that computed them. */
  cron: string;
}

/** Statistics older than this are stale (the cron stopped, say) and vanish rather than mislead. */
const STATS_TTL_SECONDS = 3600;

const statsOf = (env: FrameworkAppEnv) => kvStore<DocStats>(env.DEMO_KV, { prefix: "stats/" });

/**
 * Counts every document, following KV's list cursors to the end without reading one value. Ids sort by
 * creation time, so the first and last keys are the oldest and newest documents.
 */
export async function tallyDocs(env: FrameworkAppEnv, cron: string, now: Date): Promise<DocStats> {
  let documents = 0;
  let oldest: string | undefined;
  let newest: string | undefined;
  for await (const id of kvStore(env.DEMO_KV, { prefix: DOCS_PREFIX }).allKeys()) {
    documents++;
    oldest ??= id;
    newest = id;
  }
  return {
    documents,
    ...(oldest !== undefined ? { oldest } : {}),
    ...(newest !== undefined ? { newest } : {}),
    computedAt: now,
    cron,
  };
}

/** `GET /stats` and the cron that recomputes what it answers. */
export function statsRoutes(app: Router<FrameworkAppEnv>): void {
  app.cron(STATS_CRON, async (controller, env) => {
    const stats = await tallyDocs(env, controller.cron, new Date(controller.scheduledTime));
    await statsOf(env).put("docs", stats, { ttlSeconds: STATS_TTL_SECONDS });
  });

  app.get("/stats", async (ctx) => {
    const stats = await statsOf(ctx.env).get("docs");
    if (stats === undefined) {
      throw new HttpError(404, `no statistics yet: they are computed by the cron "${STATS_CRON}"`);
    }
    return stats;
  });
}
