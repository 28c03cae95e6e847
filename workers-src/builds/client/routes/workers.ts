/** Worker entries of an account, and their build cache. */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { ConflictError, ok } from "../envelope";
import { CURSOR_TIMESTAMP_SQL, DEFAULT_PER_PAGE, decodeCursor, pageOf } from "../pagination";
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

workerRoutes.delete("/api/workers/:worker/build_cache", async (c) => {
  const { worker } = params(c, workerRefSchema);
  const row = await db(c, (db) => findWorker(db, accountOf(c), worker));
  const { deleted } = await c.env.MANAGEMENT.clearCache(row.id);
  return c.json(ok({ deleted }));
});
