import { DurableObject } from "cloudflare:workers";
import { type Db, withDb } from "../shared/db";
import type { PurgeResult } from "../shared/management-api";
import {
  ADMIT_SQL,
  type Admission,
  type AdmitRow,
  admitParams,
  type HashRange,
  parseAdmission,
  parseShardName,
  shardRange,
} from "./admission";
import { buddyOf, capacityOf, logFor, type ManagementEnv, numberVar, shardCount } from "./env";
import type { LeaseGrant } from "./leases";
import { drainPurges } from "./purges";

export { ADMIT_SQL } from "./admission";

export interface SchedulerLimits {
  maxConcurrentBuilds: number;
  maxConcurrentBuildsGlobal: number;
  timeoutMinutes: number;
  wakeOnQueue: boolean;
  pollIntervalSeconds: number;
  shards: number;
  leaseSeconds: number;
}

export interface TickResult {
  admitted: string[];
  /** Builds found `initializing` for longer than a start may take, whose BuildBuddy was started again. */
  restarted: string[];
  /** How long the tick took in this object (its statements, a lease request), for logs and benchmarks. */
  ms: number;
}

/** A shard's lease as it knows it: it admits while `held < slots`, until `expiresAt` less a margin. */
interface ShardLease {
  slots: number;
  expiresAt: number;
  seq: number;
}

/**
 * Admits queued builds (`ADMIT_SQL`: fewest held first, then oldest, within the per-account and global
 * limits). By default one object, "global", admits for every account. With `SCHEDULER_SHARDS` = N above 1,
 * N objects `shard-<i>-of-<N>` each admit for the accounts whose hash falls in their range, within a lease
 * of the global capacity from the BuildCapacity object (see the README's design section).
 *
 * A queued build wakes its scheduler over RPC (`wake`), a finished one frees its slot (`buildFinished`);
 * the alarm repeats every `SCHEDULER_POLL_SECONDS` as the safety net that admits what a lost wake missed
 * and restarts BuildBuddies that never took their build. Ticks never overlap: a wake during a tick makes that
 * tick run once more. Queue and slots live in PostgreSQL, so an eviction loses nothing; a shard's lease
 * lives in memory, and after an eviction the shard admits nothing until it has asked for a new one.
 */
export class BuildScheduler extends DurableObject<ManagementEnv> {
  private ticking: Promise<TickResult> | undefined;
  private again = false;
  private lease: ShardLease | undefined;
  /** Builds this shard held after its last admission, or the ceiling of an admission in flight. */
  private held = 0;
  /** What the coordinator last heard this shard holds, and holds and wants. */
  private reported = 0;
  private reportedDemand = 0;

  constructor(ctx: DurableObjectState, env: ManagementEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      if (this.shard() && (await ctx.storage.getAlarm()) === null) {
        await ctx.storage.setAlarm(Date.now() + this.pollMs());
      }
    });
  }

  /**
   * Which shard this object is; undefined for an object that the current `SCHEDULER_SHARDS` does not name
   * (the shards of an earlier count, or "global" once sharded): it admits nothing and stops its alarm.
   */
  private shard(): { index: number; count: number; range: HashRange } | undefined {
    const count = shardCount(this.env);
    // An object reached without a name (never the case here) is the one scheduler of an unsharded deployment.
    const named =
      this.ctx.id.name === undefined && count === 1 ? { index: 0, count } : parseShardName(this.ctx.id.name);
    if (!named || named.count !== count) return undefined;
    return { ...named, range: shardRange(named.index, named.count) };
  }

  limits(): SchedulerLimits {
    return {
      maxConcurrentBuilds: numberVar(this.env.MAX_CONCURRENT_BUILDS, 6),
      maxConcurrentBuildsGlobal: numberVar(this.env.MAX_CONCURRENT_BUILDS_GLOBAL, 50),
      timeoutMinutes: numberVar(this.env.BUILD_TIMEOUT_MINUTES, 20),
      wakeOnQueue: this.env.SCHEDULER_WAKE !== "off",
      pollIntervalSeconds: numberVar(this.env.SCHEDULER_POLL_SECONDS, 30),
      shards: shardCount(this.env),
      leaseSeconds: numberVar(this.env.SCHEDULER_LEASE_SECONDS, 30),
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
    const shard = this.shard();
    if (!shard) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    // The next alarm is set first: a tick that throws is retried by the runtime, and the poll goes on.
    await this.ctx.storage.setAlarm(Date.now() + this.pollMs());
    await this.tick({ restartStuck: true });
    if (shard.index === 0) {
      await this.drainPurges().catch((err: Error) =>
        logFor(this.env).error("pending purges failed", err.message),
      );
    }
  }

  /**
   * Deletes what deleted Workers left outside PostgreSQL (logs, caches) that the delete's own request could
   * not remove: the rows of `pending_purges` older than a minute. The first scheduler's alarm calls it.
   */
  async drainPurges(): Promise<PurgeResult> {
    const result = await drainPurges(this.env);
    if (result.failed > 0) logFor(this.env).warn("pending purges left for the next alarm", result);
    return result;
  }

  /**
   * The coordinator lowers this shard's lease to give another shard its fair share. Applied unless a newer
   * lease came meanwhile; answers what the shard may hold now, counting an admission in flight.
   */
  async shrink(slots: number, seq: number): Promise<{ applied: boolean; held: number }> {
    if (!this.lease || this.lease.seq >= seq) return { applied: false, held: this.held };
    this.lease = { ...this.lease, slots: Math.min(this.lease.slots, slots), seq };
    this.reported = this.held;
    return { applied: true, held: this.held };
  }

  /** The coordinator has room for this shard: it asks for it at once. */
  async capacityFreed(): Promise<void> {
    this.ctx.waitUntil(
      this.tick().catch((err: Error) =>
        logFor(this.env).error("tick after a lease change failed", err.message),
      ),
    );
  }

  /** Admits what fits now. Safe to call any number of times, from any number of callers. */
  tick(options: { restartStuck?: boolean } = {}): Promise<TickResult> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    const run = async (): Promise<TickResult> => {
      const started = Date.now();
      const result: TickResult = { admitted: [], restarted: [], ms: 0 };
      do {
        this.again = false;
        const once = await this.admit(options.restartStuck === true);
        result.admitted.push(...once.admitted);
        result.restarted.push(...once.restarted);
        options = {};
      } while (this.again);
      result.ms = Date.now() - started;
      return result;
    };
    this.ticking = run().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async admit(restartStuck: boolean): Promise<{ admitted: string[]; restarted: string[] }> {
    const shard = this.shard();
    if (!shard) return { admitted: [], restarted: [] };
    const limits = this.limits();
    const startSeconds = numberVar(this.env.BUILD_START_TIMEOUT_SECONDS, 120);
    const { admitted, stuck } = await withDb(this.env.HYPERDRIVE, async (db) => {
      const admitted =
        shard.count === 1
          ? (await this.admitOnce(db, shard.range, limits.maxConcurrentBuildsGlobal, 0)).admitted
          : await this.admitInLease(db, shard, limits);
      const stale = restartStuck
        ? await db.query<{ build_uuid: string }>(
            `SELECT build_uuid FROM builds WHERE status = 'initializing'
              AND initializing_at < clock_timestamp() - make_interval(secs => $1)
              AND account_hash(account_id) BETWEEN $2 AND $3 LIMIT 100`,
            [startSeconds * 2, shard.range.lo, shard.range.hi],
          )
        : [];
      return { admitted, stuck: stale.map((r) => r.build_uuid) };
    });
    // A BuildBuddy's start is idempotent: one that already has the build does nothing, one that never got
    // it (the call was lost) starts it now, and its own healthy-start alarm covers what happens next. The
    // round does not wait for the starts: a start waits on a runner (up to a minute for a busy one), and
    // admission must not stall behind it. A start lost with this object is made again by the alarm.
    const starts = [...admitted, ...stuck].map((uuid) =>
      buddyOf(this.env, uuid)
        .startBuild(uuid)
        .catch((err: Error) =>
          logFor(this.env, { build_uuid: uuid }).error("BuildBuddy start failed", err.message),
        ),
    );
    this.ctx.waitUntil(Promise.all(starts));
    return { admitted, restarted: stuck };
  }

  private async admitOnce(db: Db, range: HashRange, ceiling: number, demandCap: number): Promise<Admission> {
    const perAccount = numberVar(this.env.MAX_CONCURRENT_BUILDS, 6);
    // While the statement runs, the shard may come to hold up to its ceiling: that is what a shrink hears.
    this.held = Math.max(this.held, ceiling);
    try {
      const rows = await db.query<AdmitRow>(
        ADMIT_SQL,
        admitParams({ perAccount, ceiling, range, demandCap }),
      );
      const admission = parseAdmission(rows);
      this.held = admission.held + admission.admitted.length;
      return admission;
    } catch (err) {
      this.held = Math.max(this.held, ceiling);
      throw err;
    }
  }

  /**
   * A shard admits within its lease, and asks the coordinator when its queue wants more than the lease
   * allows, when the coordinator counts more builds against it than it now holds (after a shrink), when it
   * wants less than it said and than its lease, or when the lease is half over. Otherwise unused slots stay
   * with the shard, as room for its next builds, until the coordinator shrinks the lease for another shard.
   */
  private async admitInLease(
    db: Db,
    shard: { index: number; count: number; range: HashRange },
    limits: SchedulerLimits,
  ): Promise<string[]> {
    const ttlMs = limits.leaseSeconds * 1000;
    // The shard stops admitting a little before its lease ends, so that the coordinator, counting the
    // shard's builds once the lease has ended, sees every build it admitted.
    const margin = Math.min(2000, ttlMs / 4);
    const usable = () => (this.lease && Date.now() < this.lease.expiresAt - margin ? this.lease.slots : 0);
    const first = await this.admitOnce(db, shard.range, usable(), limits.maxConcurrentBuildsGlobal);
    const admitted = [...first.admitted];
    const wants = first.waiting.some((n) => n > 0);
    const demand = first.demand.reduce((a, b) => a + b, 0);
    const overCounted = this.reported > Math.max(usable(), this.held);
    // Its queue shrank below its lease since it last said: the coordinator would keep its slots from others.
    const overAsked = this.reportedDemand > demand && usable() > demand;
    const renew = !this.lease || this.lease.expiresAt - Date.now() < ttlMs / 2;
    if (!wants && !overCounted && !overAsked && !renew) return admitted;
    try {
      this.reported = this.held;
      this.reportedDemand = demand;
      this.applyGrant(
        await capacityOf(this.env).lease({
          index: shard.index,
          count: shard.count,
          held: this.held,
          demand: first.demand,
        }),
      );
      if (wants && usable() > this.held) {
        admitted.push(...(await this.admitOnce(db, shard.range, usable(), 0)).admitted);
      }
    } catch (err) {
      // What was admitted is started all the same; the next tick asks again.
      logFor(this.env).error("scheduler shard could not renew its lease", (err as Error).message);
    }
    return admitted;
  }

  private applyGrant(grant: LeaseGrant): void {
    if (this.lease && this.lease.seq >= grant.seq) return;
    this.lease = { slots: grant.slots, expiresAt: grant.expiresAt, seq: grant.seq };
  }

  /** For tests and diagnostics: this shard's lease and what it held after its last admission. */
  async inspect(): Promise<{ lease: ShardLease | undefined; held: number }> {
    return { lease: this.lease, held: this.held };
  }
}
