/**
 * Deploy hooks: a secret URL that builds a fixed branch of a trigger when POSTed to. Only the SHA-256 of
 * the secret is stored, so the URL is shown once. Calls are rate limited per Worker and per account.
 */
import { Hono } from "hono";
import { sha256Hex } from "../../lib/digest";
import { DEPLOY_HOOK_LIMITS, rateLimitKey, retryAfterSeconds, windowStart } from "../../lib/rate-limit";
import type { Db } from "../../shared/db";
import type { AppEnv } from "../env";
import { ConflictError, NotFoundError, ok, RateLimitedError } from "../envelope";
import { logger } from "../logger";
import { queueBuildsInTransaction, recordSuperseded, reportStatuses, wakeScheduler } from "../queue-build";
import { findTrigger } from "../records";
import { accountOf, body, db, params, query } from "../request";
import {
  createDeployHookSchema,
  deployHookParamSchema,
  emptyQuerySchema,
  triggerParamSchema,
} from "../schemas";
import { DEPLOY_HOOK_SECRET, newDeployHookSecret } from "../tokens";

/** More would only be a list nobody can audit. */
export const MAX_DEPLOY_HOOKS_PER_TRIGGER = 50;

/** Windows older than this are dropped now and then; none of the limits spans more than a minute. */
const RATE_LIMIT_RETENTION = "1 hour";
const PRUNE_PROBABILITY = 0.02;

export const deployHookRoutes = new Hono<AppEnv>();

interface DeployHookRow {
  id: string;
  trigger_id: string;
  name: string;
  branch: string;
  created_at: Date;
}

function hookJson(row: DeployHookRow) {
  return {
    id: row.id,
    trigger_id: row.trigger_id,
    name: row.name,
    branch: row.branch,
    created_at: row.created_at.toISOString(),
  };
}

deployHookRoutes.post("/api/triggers/:trigger/deploy_hooks", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  const input = await body(c, createDeployHookSchema);
  const accountId = accountOf(c);
  const secret = newDeployHookSecret();
  const digest = await sha256Hex(secret);
  const row = await db(c, (db) =>
    db.transaction(async (tx) => {
      const t = await findTrigger(tx, accountId, trigger, true);
      const [{ count }] = (await tx.query<{ count: number }>(
        "SELECT count(*)::int AS count FROM deploy_hooks WHERE trigger_id = $1",
        [t.id],
      )) as [{ count: number }];
      if (count >= MAX_DEPLOY_HOOKS_PER_TRIGGER) {
        throw new ConflictError(
          `trigger ${t.id} already has ${count} deploy hooks, the most allowed; delete one first`,
        );
      }
      const rows = await tx.query<DeployHookRow>(
        `INSERT INTO deploy_hooks (account_id, trigger_id, name, branch, secret_sha256) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, trigger_id, name, branch, created_at`,
        [accountId, t.id, input.name, input.branch ?? t.production_branch, digest],
      );
      return rows[0]!;
    }),
  );
  return c.json(ok({ ...hookJson(row), url_path: `/hooks/deploy/${secret}` }), 201);
});

deployHookRoutes.get("/api/triggers/:trigger/deploy_hooks", async (c) => {
  const { trigger } = params(c, triggerParamSchema);
  query(c, emptyQuerySchema);
  const accountId = accountOf(c);
  const rows = await db(c, async (db) => {
    await findTrigger(db, accountId, trigger);
    return db.query<DeployHookRow>(
      `SELECT id, trigger_id, name, branch, created_at FROM deploy_hooks
       WHERE account_id = $1 AND trigger_id = $2 ORDER BY created_at, id`,
      [accountId, trigger],
    );
  });
  return c.json(
    ok(rows.map(hookJson), { count: rows.length, per_page: MAX_DEPLOY_HOOKS_PER_TRIGGER, cursor: null }),
  );
});

deployHookRoutes.delete("/api/deploy_hooks/:id", async (c) => {
  const { id } = params(c, deployHookParamSchema);
  query(c, emptyQuerySchema);
  const deleted = await db(c, (db) =>
    db.query("DELETE FROM deploy_hooks WHERE account_id = $1 AND id = $2 RETURNING id", [accountOf(c), id]),
  );
  if (deleted.length === 0) throw new NotFoundError(`deploy hook ${id}`);
  return c.json(ok({ id }));
});

/** The URL is the credential: no token, and an unknown secret is a plain 404. */
deployHookRoutes.post("/hooks/deploy/:secret", async (c) => {
  const secret = c.req.param("secret");
  if (!DEPLOY_HOOK_SECRET.test(secret)) throw new NotFoundError("deploy hook");
  const digest = await sha256Hex(secret);
  const { build, superseded } = await db(c, async (db) => {
    const hooks = await db.query<{
      account_id: string;
      worker_id: string;
      trigger_id: string;
      branch: string;
      production_branch: string;
    }>(
      `SELECT h.account_id, t.worker_id, h.trigger_id, h.branch, t.production_branch
       FROM deploy_hooks h JOIN triggers t ON t.id = h.trigger_id WHERE h.secret_sha256 = $1`,
      [digest],
    );
    const hook = hooks[0];
    if (hook === undefined) throw new NotFoundError("deploy hook");
    logger.setTags({ account_id: hook.account_id });
    if (Math.random() < PRUNE_PROBABILITY) await pruneRateLimits(db);
    return db.transaction(async (tx) => {
      await takeRateLimit(tx, { worker: hook.worker_id, account: hook.account_id });
      const {
        queued: [queued],
        superseded,
      } = await queueBuildsInTransaction(tx, [
        {
          accountId: hook.account_id,
          workerId: hook.worker_id,
          triggerId: hook.trigger_id,
          source: "deploy_hook",
          branch: hook.branch,
          commitHash: null,
          commitMessage: null,
          production: hook.branch === hook.production_branch,
        },
      ]);
      return { build: queued!, superseded };
    });
  });
  recordSuperseded(c, superseded);
  wakeScheduler(c, [build.account_id]);
  reportStatuses(c, [build], superseded);
  return c.json(ok({ build_uuid: build.build_uuid, status: build.status }), 202);
});

async function pruneRateLimits(db: Db): Promise<void> {
  await db.query(`DELETE FROM rate_limits WHERE window_start < now() - interval '${RATE_LIMIT_RETENTION}'`);
}

/**
 * Counts the call against each deploy hook limit, atomically per counter; over any limit it throws, and
 * the caller's transaction rolls every count back, so refused calls use up no one's budget.
 */
async function takeRateLimit(tx: Db, ids: { worker: string; account: string }): Promise<void> {
  const now = Date.now();
  for (const rule of DEPLOY_HOOK_LIMITS) {
    const rows = await tx.query<{ count: number }>(
      `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, to_timestamp($2::double precision / 1000), 1)
       ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limits.count + 1 RETURNING count`,
      [rateLimitKey(rule, ids[rule.scope]), windowStart(now, rule.windowSeconds)],
    );
    if (rows[0]!.count > rule.limit) {
      throw new RateLimitedError(
        `deploy hooks of this ${rule.scope} are limited to ${rule.limit} calls per ${rule.windowSeconds} s; retry later`,
        retryAfterSeconds(now, rule.windowSeconds),
      );
    }
  }
}
