/**
 * The sharded scheduler on the local target: four BuildScheduler shards and the BuildCapacity coordinator
 * on workerd, PostgreSQL for real. Admission rounds are driven by calling the shards' `tick`; builds are
 * queued and released straight in PostgreSQL (see scheduler-drive.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BuildsPlatform, startBuildsPlatform } from "../builds-harness";
import {
  accountsOfShard,
  type CapacityStub,
  capacityStub,
  heldNow,
  queueBuilds,
  releaseAll,
  type SchedulerStub,
  schedulerStubs,
} from "./scheduler-drive";

const SHARDS = 4;
const PER_ACCOUNT = 3;
const GLOBAL = 10;
const LEASE_SECONDS = 2;

let platform: BuildsPlatform;
let shards: SchedulerStub[];
let capacity: CapacityStub;

beforeAll(async () => {
  platform = await startBuildsPlatform({
    builds: {
      maxConcurrentPerAccount: PER_ACCOUNT,
      maxConcurrentGlobal: GLOBAL,
      // The alarm's poll would tick the shards on its own: the tests drive every round.
      scheduler: {
        wakeOnQueue: true,
        pollIntervalSeconds: 3600,
        shards: SHARDS,
        leaseSeconds: LEASE_SECONDS,
      },
    },
  });
  shards = await schedulerStubs(platform, SHARDS);
  capacity = await capacityStub(platform);
}, 180_000);
afterAll(() => platform?.stop(), 60_000);
// Every test starts from no builds held and no lease: the leases of the test before end on their own.
beforeEach(async () => {
  await platform.sql(
    "UPDATE builds SET status = 'stopped', build_outcome = 'cancelled' WHERE status <> 'stopped'",
  );
  await waitFor("the leases of the test before to end", async () =>
    (await capacity.inspect()).leases.length === 0 ? true : undefined,
  );
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statusOf(uuid: string): Promise<string> {
  const [row] = await platform.sql<{ status: string }>("SELECT status FROM builds WHERE build_uuid = $1", [
    uuid,
  ]);
  return row!.status;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe("limits across shards", () => {
  it("holds the per-account and global limits in every round, and admits every build exactly once", async () => {
    const accounts = Array.from({ length: 40 }, (_, i) => `limits-${i}`);
    const queued = await queueBuilds(
      platform,
      Array.from({ length: 200 }, (_, i) => accounts[i % accounts.length]!),
    );
    const waiting = async () =>
      (
        await platform.sql<{ n: number }>(
          "SELECT count(*)::int AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) AND status = 'queued'",
          [queued],
        )
      )[0]!.n;
    // Each round's ticks answer what they admitted; a shard nudged by the coordinator between rounds
    // admits too, which only PostgreSQL sees.
    const seen = new Map<string, number>();
    for (let round = 0; (await waiting()) > 0; round++) {
      expect(round).toBeLessThan(300);
      const results = await Promise.all(shards.map((s) => s.tick()));
      for (const uuid of results.flatMap((r) => r.admitted)) seen.set(uuid, (seen.get(uuid) ?? 0) + 1);
      const held = await heldNow(platform);
      expect(held.total).toBeLessThanOrEqual(GLOBAL);
      expect(held.perAccountMax).toBeLessThanOrEqual(PER_ACCOUNT);
      // Half the rounds release every build, the others only some: leases shrink and grow.
      if (round % 2 === 0) await releaseAll(platform);
      else
        await platform.sql(
          `UPDATE builds SET status = 'stopped', build_outcome = 'success'
            WHERE build_uuid IN (SELECT build_uuid FROM builds WHERE status = 'initializing' ORDER BY build_uuid LIMIT 3)`,
        );
    }
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBeGreaterThan(queued.length / 2);
    const [never] = await platform.sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM builds WHERE build_uuid = ANY($1::uuid[]) AND initializing_at IS NULL",
      [queued],
    );
    expect(never!.n).toBe(0);
    const { leases } = await capacity.inspect();
    expect(
      leases.reduce((sum, l) => sum + (l.expired ? l.held : Math.max(l.slots, l.held)), 0),
    ).toBeLessThanOrEqual(GLOBAL);
  }, 120_000);
});

describe("fairness across shards", () => {
  it("a shard holding every slot for its accounts' later builds yields one to another shard's first build within two rounds", async () => {
    const fillers = await accountsOfShard(platform, "fair-fill", 0, SHARDS, 5);
    await queueBuilds(
      platform,
      Array.from({ length: 50 }, (_, i) => fillers[i % fillers.length]!),
      0,
    );
    expect((await shards[0]!.tick()).admitted).toHaveLength(GLOBAL);
    const [small] = await accountsOfShard(platform, "fair-small", 1, SHARDS, 1);
    const [single] = await queueBuilds(platform, [small!], 10_000);
    // Two rounds: in the first, shard 0 refills the slots it holds before it hears that shard 1 needs one;
    // in the second it admits one fewer and says so, and the coordinator nudges shard 1, which admits.
    for (let round = 0; round < 2 && (await statusOf(single!)) === "queued"; round++) {
      await releaseAll(platform);
      await Promise.all(shards.map((s) => s.tick()));
    }
    await waitFor("the single build, without a third round", async () =>
      (await statusOf(single!)) === "initializing" ? true : undefined,
    );
  }, 60_000);
});

describe("leases", () => {
  it("returns an expired lease's capacity: what was unused at once, what its builds held as they finish", async () => {
    const fillers = await accountsOfShard(platform, "expire-fill", 0, SHARDS, GLOBAL);
    await queueBuilds(platform, fillers, 0);
    const filled = await shards[0]!.tick();
    expect(filled.admitted).toHaveLength(GLOBAL);
    // Seven of shard 0's builds finish, unknown to it; it is never ticked again, so it never renews.
    await platform.sql(
      "UPDATE builds SET status = 'stopped', build_outcome = 'success' WHERE build_uuid = ANY($1::uuid[])",
      [filled.admitted.slice(0, 7)],
    );
    const [small] = await accountsOfShard(platform, "expire-small", 2, SHARDS, 1);
    const [first, second] = await queueBuilds(platform, [small!, small!], 10_000);
    // Shard 0's lease still holds every slot.
    expect((await shards[2]!.tick()).admitted).toEqual([]);
    // Once it ends, the coordinator counts shard 0's running builds (3) and gives the rest to shard 2.
    await waitFor("shard 2's builds after the lease ended", async () =>
      (await statusOf(first!)) === "initializing" && (await statusOf(second!)) === "initializing"
        ? true
        : undefined,
    );
    const expired = (await capacity.inspect()).leases.find((l) => l.shard === "shard-0-of-4");
    expect(expired).toMatchObject({ expired: true, held: 3 });
    expect((await heldNow(platform)).total).toBe(5);
    // Shard 0's last three finish: counted again, its expired lease is gone.
    await platform.sql(
      "UPDATE builds SET status = 'stopped', build_outcome = 'success' WHERE build_uuid = ANY($1::uuid[])",
      [filled.admitted.slice(7)],
    );
    await waitFor("the expired lease to be dropped", async () =>
      (await capacity.inspect()).leases.some((l) => l.shard === "shard-0-of-4") ? undefined : true,
    );
  }, 60_000);
});

describe("wakes", () => {
  it("a finished build wakes its account's shard, which admits the account's next build", async () => {
    const [account] = await accountsOfShard(platform, "wake", 3, SHARDS, 1);
    const [first, second, third, fourth] = await queueBuilds(
      platform,
      Array.from({ length: 4 }, () => account!),
      0,
    );
    const round = await shards[3]!.tick();
    expect(round.admitted.sort()).toEqual([first, second, third].sort());
    const buddies = await platform.target.mf.getDurableObjectNamespace(
      "BUILD_BUDDY",
      Object.keys(platform.target.workers).find((w) => w.endsWith("-builds-management"))!,
    );
    const buddy = buddies.get(buddies.idFromName(first!)) as unknown as {
      cancel(uuid: string): Promise<unknown>;
    };
    await buddy.cancel(first!);
    await waitFor("the account's fourth build", async () =>
      (await statusOf(fourth!)) === "initializing" ? true : undefined,
    );
  }, 60_000);
});
