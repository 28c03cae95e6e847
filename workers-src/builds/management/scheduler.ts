import { DurableObject } from "cloudflare:workers";
import { withDb } from "../shared/db";
import type { PurgeResult } from "../shared/management-api";
import { buddyOf, logFor, type ManagementEnv, numberVar } from "./env";
import { drainPurges } from "./purges";

export interface SchedulerLimits {
  maxConcurrentBuilds: number;
  maxConcurrentBuildsGlobal: number;
  timeoutMinutes: number;
  wakeOnQueue: boolean;
  pollIntervalSeconds: number;
}

export interface TickResult {
  admitted: string[];
  /** Builds found `initializing` for longer than a start may take, whose BuildBuddy was started again. */
  restarted: string[];
}

/**
 * Admits the oldest queued builds that fit: at most `perAccount` builds holding a slot (`initializing` or
 * `running`) per account and `global` over all accounts. One statement decides and claims, so that two
 * ticks can never admit a build twice (`status = 'queued'` is re-checked by the UPDATE).
 */
export const ADMIT_SQL = `
WITH active AS (
  SELECT account_id, count(*) AS n FROM builds WHERE status IN ('initializing', 'running') GROUP BY account_id
), ranked AS (
  SELECT b.build_uuid, b.created_at,
         row_number() OVER (PARTITION BY b.account_id ORDER BY b.created_at, b.build_uuid) + coalesce(a.n, 0) AS slot
    FROM builds b LEFT JOIN active a USING (account_id)
   WHERE b.status = 'queued'
), eligible AS (
  SELECT build_uuid FROM ranked WHERE slot <= $1
   ORDER BY created_at, build_uuid
   LIMIT greatest($2 - (SELECT coalesce(sum(n), 0) FROM active), 0)
)
UPDATE builds SET status = 'initializing', initializing_at = clock_timestamp()
  FROM eligible
 WHERE builds.build_uuid = eligible.build_uuid AND builds.status = 'queued'
RETURNING builds.build_uuid`;

/**
 * One for the whole deployment. A queued build wakes it over RPC (`wake`), a finished one frees its slot
 * (`buildFinished`); its alarm repeats every `SCHEDULER_POLL_SECONDS` as the safety net that admits what a
 * lost wake missed and restarts BuildBuddies that never took their build. Ticks never overlap: a wake during
 * a tick makes that tick run once more. Queue and slots live in PostgreSQL, so an eviction loses nothing.
 */
export class BuildScheduler extends DurableObject<ManagementEnv> {
  private ticking: Promise<TickResult> | undefined;
  private again = false;

  constructor(ctx: DurableObjectState, env: ManagementEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + this.pollMs());
    });
  }

  limits(): SchedulerLimits {
    return {
      maxConcurrentBuilds: numberVar(this.env.MAX_CONCURRENT_BUILDS, 6),
      maxConcurrentBuildsGlobal: numberVar(this.env.MAX_CONCURRENT_BUILDS_GLOBAL, 50),
      timeoutMinutes: numberVar(this.env.BUILD_TIMEOUT_MINUTES, 20),
      wakeOnQueue: this.env.SCHEDULER_WAKE !== "off",
      pollIntervalSeconds: numberVar(this.env.SCHEDULER_POLL_SECONDS, 30),
    };
  }

  private pollMs(): number {
    return numberVar(this.env.SCHEDULER_POLL_SECONDS, 30) * 1000;
  }

  /** A build was queued. With waking off (the polling design) it waits for the alarm. */
  async wake(): Promise<TickResult | undefined> {
    if (this.env.SCHEDULER_WAKE === "off") return undefined;
    return this.tick();
  }

  /**
   * A build stopped: its slot may go to the next queued build at once. With waking off (the polling
   * design) the slot waits for the next poll too.
   */
  async buildFinished(_buildUuid: string): Promise<void> {
    if (this.env.SCHEDULER_WAKE === "off") return;
    this.ctx.waitUntil(
      this.tick().catch((err: Error) => logFor(this.env).error("tick after finish failed", err.message)),
    );
  }

  override async alarm(): Promise<void> {
    // The next alarm is set first: a tick that throws is retried by the runtime, and the poll goes on.
    await this.ctx.storage.setAlarm(Date.now() + this.pollMs());
    await this.tick({ restartStuck: true });
    await this.drainPurges().catch((err: Error) =>
      logFor(this.env).error("pending purges failed", err.message),
    );
  }

  /**
   * Deletes what deleted Workers left outside PostgreSQL (logs, caches) that the delete's own request could
   * not remove: the rows of `pending_purges` older than a minute. The alarm calls it.
   */
  async drainPurges(): Promise<PurgeResult> {
    const result = await drainPurges(this.env);
    if (result.failed > 0) logFor(this.env).warn("pending purges left for the next alarm", result);
    return result;
  }

  /** Admits what fits now. Safe to call any number of times, from any number of callers. */
  tick(options: { restartStuck?: boolean } = {}): Promise<TickResult> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    const run = async (): Promise<TickResult> => {
      const result: TickResult = { admitted: [], restarted: [] };
      do {
        this.again = false;
        const once = await this.admit(options.restartStuck === true);
        result.admitted.push(...once.admitted);
        result.restarted.push(...once.restarted);
        options = {};
      } while (this.again);
      return result;
    };
    this.ticking = run().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async admit(restartStuck: boolean): Promise<TickResult> {
    const limits = this.limits();
    const startSeconds = numberVar(this.env.BUILD_START_TIMEOUT_SECONDS, 120);
    const { admitted, stuck } = await withDb(this.env.HYPERDRIVE, async (db) => {
      const rows = await db.query<{ build_uuid: string }>(ADMIT_SQL, [
        limits.maxConcurrentBuilds,
        limits.maxConcurrentBuildsGlobal,
      ]);
      const stale = restartStuck
        ? await db.query<{ build_uuid: string }>(
            `SELECT build_uuid FROM builds WHERE status = 'initializing'
              AND initializing_at < clock_timestamp() - make_interval(secs => $1) LIMIT 100`,
            [startSeconds * 2],
          )
        : [];
      return { admitted: rows.map((r) => r.build_uuid), stuck: stale.map((r) => r.build_uuid) };
    });
    // A BuildBuddy's start is idempotent: one that already has the build does nothing, one that never got
    // it (the call was lost) starts it now, and its own healthy-start alarm covers what happens next.
    const starts = [...admitted, ...stuck].map((uuid) =>
      buddyOf(this.env, uuid)
        .startBuild(uuid)
        .catch((err: Error) =>
          logFor(this.env, { build_uuid: uuid }).error("BuildBuddy start failed", err.message),
        ),
    );
    await Promise.all(starts);
    return { admitted, restarted: stuck };
  }
}
