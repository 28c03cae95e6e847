import { DurableObject } from "cloudflare:workers";
import { withDb } from "../shared/db";
import { shardRange } from "./admission";
import { logFor, type ManagementEnv, numberVar, schedulerShard } from "./env";
import {
  applyShrink,
  decideLease,
  dueToExpire,
  type LeaseGrant,
  type LeaseRecord,
  type LeaseRequest,
  type Shrink,
  starvedShards,
} from "./leases";

/** While an expired lease's shard still holds builds, they are counted again this often. */
const RECOUNT_MS = 5000;

/**
 * Holds the global build capacity of a sharded scheduler (`SCHEDULER_SHARDS` above 1) and leases it to the
 * shards in batches that expire (`leases.ts` decides). One for the deployment, named "global". Its lease
 * table lives in storage, so an eviction loses nothing but shrinks in flight, which only leave a shard
 * holding more than its share until it next asks. Its alarm ends leases that were not renewed: their unused
 * slots return at once, their shard's running builds as they finish (counted in PostgreSQL).
 */
export class BuildCapacity extends DurableObject<ManagementEnv> {
  private records: LeaseRecord[] = [];
  private nextSeq = 1;

  constructor(ctx: DurableObjectState, env: ManagementEnv) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      this.records = (await ctx.storage.get<LeaseRecord[]>("leases")) ?? [];
      this.nextSeq = (await ctx.storage.get<number>("seq")) ?? 1;
    });
  }

  private limits() {
    return {
      capacity: numberVar(this.env.MAX_CONCURRENT_BUILDS_GLOBAL, 50),
      ttlMs: numberVar(this.env.SCHEDULER_LEASE_SECONDS, 30) * 1000,
    };
  }

  private async save(): Promise<void> {
    await this.ctx.storage.put({ leases: this.records, seq: this.nextSeq });
    const live = this.records.filter((r) => !r.expired).map((r) => r.expiresAt);
    const counting = this.records.some((r) => r.expired);
    const next = Math.min(...live, counting ? Date.now() + RECOUNT_MS : Number.POSITIVE_INFINITY);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
    else await this.ctx.storage.deleteAlarm();
  }

  /**
   * A shard asks for (or renews, or gives back) its lease, saying what it holds and what it wants. Decided
   * without waiting on anything but storage, so two requests never interleave.
   */
  async lease(request: LeaseRequest): Promise<LeaseGrant> {
    shardRange(request.index, request.count);
    const decided = decideLease(this.records, request, Date.now(), this.limits(), this.nextSeq);
    this.records = decided.records;
    this.nextSeq = decided.nextSeq;
    await this.save();
    for (const shrink of decided.shrinks) this.ctx.waitUntil(this.sendShrink(shrink));
    // A renewal may have given slots back: the shards waiting for them ask again at once.
    await this.nudgeStarved();
    return decided.grant;
  }

  private async sendShrink(shrink: Shrink): Promise<void> {
    const record = this.records.find((r) => r.shard === shrink.shard);
    if (!record) return;
    try {
      const answer = await schedulerShard(this.env, record.index, record.count).shrink(
        shrink.slots,
        shrink.seq,
      );
      this.records = applyShrink(this.records, shrink, answer);
      await this.save();
      await this.nudgeStarved();
    } catch (err) {
      // The shard keeps its slots until it next asks or its lease ends; both are safe.
      logFor(this.env).warn("lease shrink not delivered", {
        shard: shrink.shard,
        error: (err as Error).message,
      });
    }
  }

  /** Tells the shards that want more than they hold, now that there is room, to ask again. */
  private async nudgeStarved(): Promise<void> {
    const { capacity } = this.limits();
    for (const shard of starvedShards(this.records, capacity)) {
      const record = this.records.find((r) => r.shard === shard)!;
      this.ctx.waitUntil(
        schedulerShard(this.env, record.index, record.count)
          .capacityFreed()
          .catch((err: Error) => logFor(this.env).warn("shard not nudged", { shard, error: err.message })),
      );
    }
  }

  /** Ends leases that were not renewed; recounts the builds that expired shards still hold. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const r of dueToExpire(this.records, now)) {
      // Until PostgreSQL has counted them, the shard may hold all it was allowed.
      this.records = this.records.map((x) =>
        x.shard === r.shard ? { ...x, expired: true, held: Math.max(x.held, x.slots) } : x,
      );
      logFor(this.env).info("scheduler shard lease expired", { shard: r.shard, slots: r.slots });
    }
    const expired = this.records.filter((r) => r.expired);
    if (expired.length > 0) {
      const held = await this.heldInPostgres(expired);
      this.records = this.records
        .map((r) => (r.expired ? { ...r, held: held.get(r.shard) ?? r.held } : r))
        .filter((r) => !r.expired || r.held > 0);
    }
    await this.save();
    await this.nudgeStarved();
  }

  private async heldInPostgres(records: LeaseRecord[]): Promise<Map<string, number>> {
    return withDb(this.env.HYPERDRIVE, async (db) => {
      const held = new Map<string, number>();
      for (const r of records) {
        const range = shardRange(r.index, r.count);
        const [row] = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM builds
            WHERE status IN ('initializing', 'running') AND account_hash(account_id) BETWEEN $1 AND $2`,
          [range.lo, range.hi],
        );
        held.set(r.shard, row?.n ?? 0);
      }
      return held;
    });
  }

  /** For tests and diagnostics. */
  async inspect(): Promise<{ leases: LeaseRecord[]; alarm: number | null }> {
    return { leases: this.records, alarm: await this.ctx.storage.getAlarm() };
  }
}
