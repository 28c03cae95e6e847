/** Worker entries of an account, and their build cache. */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { type ApiMessage, ConflictError, ERROR_CODES, ok } from "../envelope";
import { logger } from "../logger";
import { CURSOR_TIMESTAMP_SQL, DEFAULT_PER_PAGE, decodeCursor, pageOf } from "../pagination";
import { errorFields } from "../queue-build";
import { ensureAccount, findWorker, WORKER_COLUMNS, type WorkerRow, workerJson } from "../records";
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
    db.query<WorkerRow & { cursor_ts: string }>(
      `SELECT ${WORKER_COLUMNS}, ${CURSOR_TIMESTAMP_SQL} AS cursor_ts FROM workers
       WHERE account_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2::timestamptz, $3::uuid))
       ORDER BY created_at DESC, id DESC LIMIT $4`,
      [accountOf(c), after?.createdAt ?? null, after?.id ?? null, perPage + 1],
    ),
  );
  const page = pageOf(rows, perPage, (r) => ({ createdAt: r.cursor_ts, id: r.id }));
  return c.json(
    ok(page.items.map(workerJson), { count: page.items.length, per_page: perPage, cursor: page.cursor }),
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
 * transaction; the logs and the cache after it, so a failure there leaves nothing the API can still reach
 * and is reported in `messages`.
 */
workerRoutes.delete("/api/workers/:worker", async (c) => {
  const { worker } = params(c, workerRefSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const deleted = await db(c, (db) =>
    db.transaction(async (tx) => {
      const row = await findWorker(tx, accountId, worker, true);
      const [{ active }] = (await tx.query<{ active: number }>(
        "SELECT count(*)::int AS active FROM builds WHERE worker_id = $1 AND status <> 'stopped'",
        [row.id],
      )) as [{ active: number }];
      if (active > 0) {
        throw new ConflictError(
          `Worker ${row.name} has ${active} queued or running builds; cancel them (PUT /api/builds/:uuid/cancel) first`,
        );
      }
      const builds = await tx.query<{ build_uuid: string }>(
        "DELETE FROM builds WHERE worker_id = $1 RETURNING build_uuid",
        [row.id],
      );
      await tx.query("DELETE FROM triggers WHERE worker_id = $1", [row.id]);
      await tx.query("DELETE FROM workers WHERE id = $1", [row.id]);
      return { id: row.id, name: row.name, builds: builds.map((b) => b.build_uuid) };
    }),
  );
  const messages: ApiMessage[] = [];
  try {
    await c.env.MANAGEMENT.purgeBuilds(deleted.builds);
    await c.env.MANAGEMENT.clearCache(deleted.id);
  } catch (err) {
    logger
      .withFields({ error: errorFields(err), worker_id: deleted.id })
      .error("Worker deleted, but its build logs or cache could not all be deleted");
    messages.push({
      code: ERROR_CODES.cleanupIncomplete,
      message: "build logs or cache of the deleted Worker could not all be removed",
    });
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
