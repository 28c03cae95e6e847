/** Worker entries of an account, and their build cache. */
import { Hono } from "hono";
import type { PurgeItem } from "../../shared/management-api";
import type { AppEnv } from "../env";
import { type ApiMessage, ConflictError, ERROR_CODES, ok } from "../envelope";
import { errorFields, logger } from "../logger";
import { CURSOR_TIMESTAMP_SQL, DEFAULT_PER_PAGE, decodeCursor, pageOf } from "../pagination";
import {
  ensureAccount,
  findWorker,
  LAST_BUILD_SQL,
  listedWorkerJson,
  WORKER_COLUMNS,
  type WorkerRow,
  workerJson,
} from "../records";
import { accountOf, body, db, params, query } from "../request";
import { createWorkerSchema, emptyQuerySchema, listQuerySchema, workerRefSchema } from "../schemas";

export const workerRoutes = new Hono<AppEnv>();

workerRoutes.post("/api/workers", async (c) => {
  const { name } = await body(c, createWorkerSchema);
  const accountId = accountOf(c);
  const row = await db(c, (db) =>
    db.transaction(async (tx) => {
      await ensureAccount(tx, accountId);
      const rows = await tx.query<WorkerRow>(
        `INSERT INTO workers (account_id, name) VALUES ($1, $2)
         ON CONFLICT (account_id, name) DO NOTHING RETURNING ${WORKER_COLUMNS}`,
        [accountId, name],
      );
      if (rows[0] === undefined)
        throw new ConflictError(`a Worker named ${name} already exists in this account`);
      return rows[0];
    }),
  );
  return c.json(ok(workerJson(row)), 201);
});

workerRoutes.get("/api/workers", async (c) => {
  const q = query(c, listQuerySchema);
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  const after = q.cursor === undefined ? null : decodeCursor(q.cursor);
  const rows = await db(c, (db) =>
    db.query<Parameters<typeof listedWorkerJson>[0] & { cursor_ts: string }>(
      `SELECT ${WORKER_COLUMNS}, ${CURSOR_TIMESTAMP_SQL} AS cursor_ts, ${LAST_BUILD_SQL} AS last_build FROM workers w
       WHERE account_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [accountOf(c), after?.createdAt ?? null, after?.id ?? null, perPage + 1],
    ),
  );
  const page = pageOf(rows, perPage, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
  return c.json(
    ok(page.items.map(listedWorkerJson), {
      count: page.items.length,
      per_page: perPage,
      cursor: page.cursor,
    }),
  );
});

workerRoutes.get("/api/workers/:worker", async (c) => {
  const { worker } = params(c, workerRefSchema);
  query(c, emptyQuerySchema);
  const row = await db(c, (db) => findWorker(db, accountOf(c), worker));
  return c.json(ok(workerJson(row)));
});

/**
 * Deletes a Worker entry with everything of it: triggers (with their variables and deploy hooks), builds
 * and their logs, and its build cache. Refused while a build is queued or running. The rows go in one
 * transaction, which also records in `pending_purges` what lives outside PostgreSQL (each build's
 * BuildBuddy, the cache); those are deleted right after, and whatever fails is retried by the scheduler.
 */
workerRoutes.delete("/api/workers/:worker", async (c) => {
  const { worker } = params(c, workerRefSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const deleted = await db(c, (db) =>
    db.transaction(async (tx) => {
      // Locks in the order every other writer takes them: the Worker's triggers first (a retry, a trigger
      // delete, a queued build hold one), then the Worker.
      const { id } = await findWorker(tx, accountId, worker);
      await tx.query("SELECT id FROM triggers WHERE worker_id = $1 ORDER BY id FOR UPDATE", [id]);
      const row = await findWorker(tx, accountId, id, true);
      const [{ active }] = (await tx.query<{ active: number }>(
        "SELECT count(*)::int AS active FROM builds WHERE worker_id = $1 AND status <> 'stopped'",
        [row.id],
      )) as [{ active: number }];
      if (active > 0) {
        throw new ConflictError(
          `Worker ${row.name} has ${active} queued or running builds; cancel them (PUT /api/builds/:uuid/cancel) first`,
        );
      }
      const builds = await tx.query<{ target: string }>(
        `WITH gone AS (DELETE FROM builds WHERE worker_id = $1 RETURNING build_uuid)
         INSERT INTO pending_purges (kind, target) SELECT 'build', build_uuid FROM gone
         ON CONFLICT DO NOTHING RETURNING target`,
        [row.id],
      );
      await tx.query(
        "INSERT INTO pending_purges (kind, target) VALUES ('cache', $1) ON CONFLICT DO NOTHING",
        [row.id],
      );
      await tx.query("DELETE FROM triggers WHERE worker_id = $1", [row.id]);
      await tx.query("DELETE FROM workers WHERE id = $1", [row.id]);
      return { id: row.id, name: row.name, builds: builds.map((b) => b.target) };
    }),
  );
  const items: PurgeItem[] = [
    ...deleted.builds.map((target) => ({ kind: "build" as const, target })),
    { kind: "cache", target: deleted.id },
  ];
  const messages: ApiMessage[] = [];
  const incomplete = (why: string) => {
    logger.withFields({ worker_id: deleted.id }).warn(`Worker deleted; clean-up incomplete: ${why}`);
    messages.push({
      code: ERROR_CODES.cleanupIncomplete,
      message: "some build logs or cache entries of the deleted Worker are not removed yet; they will be",
    });
  };
  try {
    const result = await c.env.MANAGEMENT.runPurges(items);
    if (result.failed > 0) incomplete(`${result.failed} of ${items.length} purges failed`);
  } catch (err) {
    incomplete(errorFields(err).message);
  }
  return c.json({
    ...ok({ id: deleted.id, name: deleted.name, builds_deleted: deleted.builds.length }),
    messages,
  });
});

workerRoutes.delete("/api/workers/:worker/build_cache", async (c) => {
  const { worker } = params(c, workerRefSchema);
  query(c, emptyQuerySchema);
  const row = await db(c, (db) => findWorker(db, accountOf(c), worker));
  const { deleted } = await c.env.MANAGEMENT.clearCache(row.id);
  return c.json(ok({ deleted }));
});
