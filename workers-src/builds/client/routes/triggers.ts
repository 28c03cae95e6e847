/** Triggers: which repository and branches build a Worker, with which commands and variables. */
import { Hono } from "hono";
import { sealingKey } from "../../lib/secret-box";
import type { Db } from "../../shared/db";
import type { AppEnv } from "../env";
import { ConflictError, ok } from "../envelope";
import {
  ensureAccount,
  findTrigger,
  findWorker,
  TRIGGER_SELECT,
  type TriggerRow,
  triggerJson,
  triggerVariables,
} from "../records";
import { accountOf, allowFileRepos, body, db, params, query } from "../request";
import {
  createTriggerSchema,
  emptyQuerySchema,
  triggerParamSchema,
  updateTriggerSchema,
  workerRefSchema,
} from "../schemas";
import {
  connectRepo,
  insertTrigger,
  replaceVariables,
  setStatusReporting,
  updateTrigger,
} from "../trigger-store";

/** Workers Builds allows a production and a non-production trigger per Worker. */
export const MAX_TRIGGERS_PER_WORKER = 2;

export const triggerRoutes = new Hono<AppEnv>();

async function readTrigger(db: Db, accountId: string, id: string) {
  const row = await findTrigger(db, accountId, id);
  return triggerJson(row, await triggerVariables(db, id));
}

triggerRoutes.post("/api/workers/:worker/triggers", async (c) => {
  const { worker } = params(c, workerRefSchema);
  const input = await body(c, createTriggerSchema({ allowFileRepos: allowFileRepos(c) }));
  const accountId = accountOf(c);
  const key = await sealingKey(c.env.BUILD_VARIABLES_KEY);
  const result = await db(c, (db) =>
    db.transaction(async (tx) => {
      await ensureAccount(tx, accountId);
      // Locking the Worker serialises trigger creation, so the count below cannot be raced past.
      const workerRow = await findWorker(tx, accountId, worker, true);
      const [{ count }] = (await tx.query<{ count: number }>(
        "SELECT count(*)::int AS count FROM triggers WHERE worker_id = $1",
        [workerRow.id],
      )) as [{ count: number }];
      if (count >= MAX_TRIGGERS_PER_WORKER) {
        throw new ConflictError(
          `Worker ${workerRow.name} already has ${count} triggers, the most a Worker may have; delete one first`,
        );
      }
      const connection = await connectRepo(tx, key, accountId, input.repo_url, input.provider);
      await setStatusReporting(tx, key, connection.id, input);
      const id = crypto.randomUUID();
      await insertTrigger(tx, { id, accountId, workerId: workerRow.id, connectionId: connection.id }, input);
      await replaceVariables(tx, key, id, input.env_vars ?? []);
      return { ...(await readTrigger(tx, accountId, id)), webhook_secret: connection.webhookSecret };
    }),
  );
  return c.json(ok(result), 201);
});

triggerRoutes.get("/api/workers/:worker/triggers", async (c) => {
  const { worker } = params(c, workerRefSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const triggers = await db(c, async (db) => {
    const workerRow = await findWorker(db, accountId, worker);
    const rows = await db.query<TriggerRow>(
      `${TRIGGER_SELECT} WHERE t.account_id = $1 AND t.worker_id = $2 ORDER BY t.created_at, t.id`,
      [accountId, workerRow.id],
    );
    return Promise.all(rows.map(async (row) => triggerJson(row, await triggerVariables(db, row.id))));
  });
  return c.json(ok(triggers, { count: triggers.length, per_page: MAX_TRIGGERS_PER_WORKER, cursor: null }));
});

triggerRoutes.get("/api/triggers/:trigger", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  query(c, emptyQuerySchema);
  return c.json(ok(await db(c, (db) => readTrigger(db, accountOf(c), trigger))));
});

triggerRoutes.patch("/api/triggers/:trigger", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  const input = await body(c, updateTriggerSchema({ allowFileRepos: allowFileRepos(c) }));
  const accountId = accountOf(c);
  const key = await sealingKey(c.env.BUILD_VARIABLES_KEY);
  const result = await db(c, (db) =>
    db.transaction(async (tx) => {
      const current = await findTrigger(tx, accountId, trigger, true);
      const repoChanges = input.repo_url !== undefined || input.provider !== undefined;
      const connection = repoChanges
        ? await connectRepo(tx, key, accountId, input.repo_url ?? current.repo_url, input.provider)
        : undefined;
      await updateTrigger(tx, trigger, connection?.id, input);
      await setStatusReporting(tx, key, connection?.id ?? current.repo_connection_id, input);
      if (input.env_vars !== undefined) await replaceVariables(tx, key, trigger, input.env_vars);
      const updated = await readTrigger(tx, accountId, trigger);
      // A new repository needs its webhook secret configured, so it is shown as on creation.
      return connection === undefined ? updated : { ...updated, webhook_secret: connection.webhookSecret };
    }),
  );
  return c.json(ok(result));
});

triggerRoutes.delete("/api/triggers/:trigger", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  await db(c, (db) =>
    db.transaction(async (tx) => {
      await findTrigger(tx, accountId, trigger, true);
      const [{ active }] = (await tx.query<{ active: number }>(
        "SELECT count(*)::int AS active FROM builds WHERE trigger_id = $1 AND status <> 'stopped'",
        [trigger],
      )) as [{ active: number }];
      if (active > 0) {
        throw new ConflictError(
          `trigger ${trigger} has ${active} queued or running builds; cancel them (PUT /api/builds/:uuid/cancel) first`,
        );
      }
      // Its stopped builds stay in the Worker's history, with trigger_id NULL (ON DELETE SET NULL); its
      // variables and deploy hooks go with it.
      await tx.query("DELETE FROM triggers WHERE id = $1", [trigger]);
    }),
  );
  return c.json(ok({ id: trigger }));
});
