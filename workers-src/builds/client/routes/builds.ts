/** Builds: start one by hand, list a Worker's, read one, cancel one, retry one. */
import { Hono } from "hono";
import type { AppEnv } from "../env";
import { ConflictError, ok } from "../envelope";
import { DEFAULT_PER_PAGE, decodeCursor, pageOf } from "../pagination";
import { queueBuilds, queueBuildsInTransaction, reportStatuses, wakeScheduler } from "../queue-build";
import { buildJson, findBuild, findTrigger, listWorkerBuilds } from "../records";
import { accountOf, body, db, params, query } from "../request";
import {
  buildParamSchema,
  createBuildSchema,
  emptyQuerySchema,
  listBuildsQuerySchema,
  triggerParamSchema,
  workerRefSchema,
} from "../schemas";

export const buildRoutes = new Hono<AppEnv>();

buildRoutes.post("/api/triggers/:trigger/builds", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  const input = await body(c, createBuildSchema);
  const accountId = accountOf(c);
  const build = await db(c, async (db) => {
    const t = await findTrigger(db, accountId, trigger);
    // A commit alone is built as on the production branch.
    const branch = input.branch ?? t.production_branch;
    const {
      queued: [queued],
    } = await queueBuilds(db, [
      {
        accountId,
        workerId: t.worker_id,
        triggerId: t.id,
        source: "api",
        branch,
        commitHash: input.commit_hash ?? null,
        commitMessage: null,
        production: branch === t.production_branch,
      },
    ]);
    return queued!;
  });
  wakeScheduler(c, [build.account_id]);
  reportStatuses(c, [build]);
  return c.json(ok(buildJson(build)), 201);
});

buildRoutes.get("/api/workers/:worker/builds", async (c) => {
  const { worker } = params(c, workerRefSchema);
  const q = query(c, listBuildsQuerySchema);
  const perPage = q.per_page ?? DEFAULT_PER_PAGE;
  const after = q.cursor === undefined ? null : decodeCursor(q.cursor);
  const accountId = accountOf(c);
  const rows = await db(c, (db) =>
    listWorkerBuilds(db, accountId, worker, {
      status: q.status ?? null,
      branch: q.branch ?? null,
      before: after,
      limit: perPage + 1,
    }),
  );
  const page = pageOf(rows, perPage, (r) => ({ createdAt: r.cursor_ts, id: r.build_uuid }));
  return c.json(
    ok(page.items.map(buildJson), { count: page.items.length, per_page: perPage, cursor: page.cursor }),
  );
});

buildRoutes.get("/api/builds/:uuid", async (c) => {
  const { uuid } = params(c, buildParamSchema);
  query(c, emptyQuerySchema);
  return c.json(ok(buildJson(await db(c, (db) => findBuild(db, accountOf(c), uuid)))));
});

buildRoutes.put("/api/builds/:uuid/cancel", async (c) => {
  const { uuid } = params(c, buildParamSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const before = await db(c, (db) => findBuild(db, accountId, uuid));
  const stopped = (outcome: string | null) =>
    new ConflictError(`build ${uuid} has already stopped (build_outcome: ${outcome}); nothing to cancel`);
  if (before.status === "stopped") throw stopped(before.build_outcome);
  const result = await c.env.MANAGEMENT.cancelBuild(uuid);
  if (!result.cancelled) throw stopped(result.build_outcome);
  const after = await db(c, (db) => findBuild(db, accountId, uuid));
  // Management's answer is the fresher one if Postgres has not caught up yet.
  return c.json(ok({ ...buildJson(after), status: result.status, build_outcome: result.build_outcome }));
});

/**
 * Retries a stopped build: a new build of the same trigger, branch and commit (the one the runner checked
 * out, when the first build got that far; else the branch's head). Like any build asked for through the
 * API, it is never superseded by a push.
 */
buildRoutes.post("/api/builds/:uuid/retry", async (c) => {
  const { uuid } = params(c, buildParamSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const build = await db(c, (db) =>
    db.transaction(async (tx) => {
      const original = await findBuild(tx, accountId, uuid);
      if (original.status !== "stopped") {
        throw new ConflictError(`build ${uuid} is ${original.status}; only a stopped build can be retried`);
      }
      if (original.trigger_id === null) {
        throw new ConflictError(`the trigger of build ${uuid} was deleted; start a build on another trigger`);
      }
      // Locked, so that the trigger cannot be deleted between here and the new build's insert.
      const trigger = await findTrigger(tx, accountId, original.trigger_id, true);
      const {
        queued: [queued],
      } = await queueBuildsInTransaction(tx, [
        {
          accountId,
          workerId: original.worker_id,
          triggerId: trigger.id,
          source: "api",
          branch: original.branch,
          commitHash: original.commit_hash,
          commitMessage: original.commit_message,
          production: original.branch === trigger.production_branch,
        },
      ]);
      return queued!;
    }),
  );
  wakeScheduler(c, [build.account_id]);
  reportStatuses(c, [build]);
  return c.json(ok(buildJson(build)), 201);
});
