/**
 * Deleting what a deleted Worker left outside PostgreSQL, from the `pending_purges` rows written with the
 * delete: each build's BuildBuddy (state, log, alarm) and the Worker's build cache. A row leaves once its
 * purge succeeded; a failure is counted on the row and tried again by the scheduler's alarm.
 */
import { withDb } from "../shared/db";
import type { PurgeItem, PurgeResult } from "../shared/management-api";
import { cachePrefix } from "./callbacks";
import { buddyOf, type ManagementEnv } from "./env";

/** BuildBuddies purged at once. */
const PURGE_BATCH = 25;
/** The alarm leaves rows younger than this to the request that wrote them. */
const ALARM_MIN_AGE_SECONDS = 60;

/** Deletes every build cache entry of a Worker; how many there were. */
export async function clearWorkerCache(env: ManagementEnv, workerId: string): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page = await env.BUILD_CACHE.list({ prefix: cachePrefix(workerId), cursor });
    if (page.objects.length > 0) {
      await env.BUILD_CACHE.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return deleted;
}

function purgeOne(env: ManagementEnv, item: PurgeItem): Promise<unknown> {
  return item.kind === "build" ? buddyOf(env, item.target).purge() : clearWorkerCache(env, item.target);
}

/** The `pending_purges` table, as the purge loop uses it (tests give their own). */
export interface PurgeQueue {
  oldest(limit: number, minAgeSeconds: number): Promise<PurgeItem[]>;
  remove(items: PurgeItem[]): Promise<void>;
  noteFailure(item: PurgeItem, error: string): Promise<void>;
}

export function pendingPurges(env: ManagementEnv): PurgeQueue {
  return {
    oldest: (limit, minAgeSeconds) =>
      withDb(env.HYPERDRIVE, (db) =>
        db.query<PurgeItem>(
          `SELECT kind, target FROM pending_purges
            WHERE created_at < clock_timestamp() - make_interval(secs => $2)
            ORDER BY created_at LIMIT $1`,
          [limit, minAgeSeconds],
        ),
      ),
    remove: async (items) => {
      await withDb(env.HYPERDRIVE, (db) =>
        db.query(
          `DELETE FROM pending_purges p USING unnest($1::text[], $2::uuid[]) AS d(kind, target)
            WHERE p.kind = d.kind AND p.target = d.target`,
          [items.map((d) => d.kind), items.map((d) => d.target)],
        ),
      );
    },
    noteFailure: async (item, error) => {
      await withDb(env.HYPERDRIVE, (db) =>
        db.query(
          "UPDATE pending_purges SET attempts = attempts + 1, last_error = $3 WHERE kind = $1 AND target = $2",
          [item.kind, item.target, error.slice(0, 500)],
        ),
      );
    },
  };
}

/**
 * Purges `items`, a batch at a time, every one attempted whatever the others do; then removes the rows of
 * those that succeeded and notes the error on the others.
 */
export async function runPurges(
  purge: (item: PurgeItem) => Promise<unknown>,
  queue: PurgeQueue,
  items: PurgeItem[],
): Promise<PurgeResult> {
  const done: PurgeItem[] = [];
  const failed: { item: PurgeItem; error: string }[] = [];
  for (let i = 0; i < items.length; i += PURGE_BATCH) {
    const batch = items.slice(i, i + PURGE_BATCH);
    const settled = await Promise.allSettled(batch.map((item) => purge(item)));
    settled.forEach((result, j) => {
      const item = batch[j]!;
      if (result.status === "fulfilled") done.push(item);
      else
        failed.push({
          item,
          error: result.reason instanceof Error ? result.reason.message : String(result.reason),
        });
    });
  }
  if (done.length > 0) await queue.remove(done);
  for (const { item, error } of failed) await queue.noteFailure(item, error);
  return { done: done.length, failed: failed.length };
}

/** Purges `items` with the Worker's own bindings and its `pending_purges` table. */
export function purgeNow(env: ManagementEnv, items: PurgeItem[]): Promise<PurgeResult> {
  return runPurges((item) => purgeOne(env, item), pendingPurges(env), items);
}

/** The oldest rows the requests that wrote them did not finish: the scheduler's alarm calls this. */
export async function drainPurges(env: ManagementEnv, limit = 200): Promise<PurgeResult> {
  const items = await pendingPurges(env).oldest(limit, ALARM_MIN_AGE_SECONDS);
  return items.length === 0 ? { done: 0, failed: 0 } : purgeNow(env, items);
}
