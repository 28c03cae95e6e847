/**
 * Drives the real scheduler Durable Objects of a builds platform on the local target, for the sharded
 * scheduler's tests and `bench:scheduler`: queued builds inserted straight into PostgreSQL, admission rounds
 * run by calling the schedulers' `tick` over RPC, admitted builds released by the caller.
 *
 * The builds are inserted without a trigger, so the BuildBuddy that the scheduler really starts for each
 * admitted build finds nothing to run (one PostgreSQL query) and leaves the build `initializing`, holding its
 * slot until the caller releases it.
 */
import { shardName, shardOfHash } from "../../workers-src/builds/management/admission";
import type { LeaseRecord } from "../../workers-src/builds/management/leases";
import type { BuildsPlatform } from "../builds-harness";

export interface SchedulerStub {
  tick(): Promise<{ admitted: string[]; restarted: string[]; ms: number }>;
  limits(): Promise<unknown>;
  inspect(): Promise<{ lease: { slots: number; expiresAt: number; seq: number } | undefined; held: number }>;
}

export interface CapacityStub {
  inspect(): Promise<{ leases: LeaseRecord[]; alarm: number | null }>;
}

function managementScript(platform: BuildsPlatform): string {
  const name = Object.keys(platform.target.workers).find((w) => w.endsWith("-builds-management"));
  if (!name) throw new Error("the platform has no Build Management Worker");
  return name;
}

/** The scheduler objects of `count` shards ("global" when 1), in shard order. */
export async function schedulerStubs(platform: BuildsPlatform, count: number): Promise<SchedulerStub[]> {
  const ns = await platform.target.mf.getDurableObjectNamespace(
    "BUILD_SCHEDULER",
    managementScript(platform),
  );
  return Array.from(
    { length: count },
    (_, i) => ns.get(ns.idFromName(shardName(i, count))) as unknown as SchedulerStub,
  );
}

export async function capacityStub(platform: BuildsPlatform): Promise<CapacityStub> {
  const ns = await platform.target.mf.getDurableObjectNamespace("BUILD_CAPACITY", managementScript(platform));
  return ns.get(ns.idFromName("global")) as unknown as CapacityStub;
}

/** Creates the accounts (with one Worker each) that do not exist yet. */
export async function ensureAccounts(platform: BuildsPlatform, accounts: string[]): Promise<void> {
  await platform.sql("INSERT INTO accounts (id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", [
    accounts,
  ]);
  await platform.sql(
    `INSERT INTO workers (account_id, name) SELECT a, 'scheduler-bench' FROM unnest($1::text[]) a
     ON CONFLICT (account_id, name) DO NOTHING`,
    [accounts],
  );
}

/**
 * Queues one build per entry of `accounts`, created in that order (1 ms apart, `startMs` after a fixed
 * time, so that a later call with a larger `startMs` queues newer builds); answers their uuids in order.
 */
export async function queueBuilds(
  platform: BuildsPlatform,
  accounts: string[],
  startMs = 0,
): Promise<string[]> {
  await ensureAccounts(platform, [...new Set(accounts)]);
  const rows = await platform.sql<{ build_uuid: string; ord: number }>(
    `INSERT INTO builds (account_id, worker_id, source, branch, production, created_at)
     SELECT q.a, w.id, 'api', 'main', true,
            timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => ($2::float8 + q.ord) / 1000)
       FROM unnest($1::text[]) WITH ORDINALITY AS q(a, ord)
       JOIN workers w ON w.account_id = q.a AND w.name = 'scheduler-bench'
      ORDER BY q.ord
     RETURNING build_uuid, extract(epoch FROM created_at)::float8 AS ord`,
    [accounts, startMs],
  );
  return rows.sort((a, b) => a.ord - b.ord).map((r) => r.build_uuid);
}

/** Stops every build holding a slot (as if each had finished), without telling the scheduler. */
export async function releaseAll(platform: BuildsPlatform): Promise<number> {
  const rows = await platform.sql<{ n: number }>(
    `WITH done AS (
       UPDATE builds SET status = 'stopped', build_outcome = 'success', stopped_at = clock_timestamp()
        WHERE status IN ('initializing', 'running') RETURNING 1)
     SELECT count(*)::int AS n FROM done`,
  );
  return rows[0]?.n ?? 0;
}

/** Builds holding a slot, in all and the most of one account. */
export async function heldNow(platform: BuildsPlatform): Promise<{ total: number; perAccountMax: number }> {
  const [row] = await platform.sql<{ total: number; most: number | null }>(
    `SELECT coalesce(sum(n), 0)::int AS total, max(n)::int AS most FROM (
       SELECT count(*) AS n FROM builds WHERE status IN ('initializing', 'running') GROUP BY account_id) x`,
  );
  return { total: row?.total ?? 0, perAccountMax: row?.most ?? 0 };
}

/** The shard of `count` that admits `account`'s builds, from PostgreSQL's `account_hash`. */
export async function shardOfAccount(
  platform: BuildsPlatform,
  account: string,
  count: number,
): Promise<number> {
  const [row] = await platform.sql<{ h: number }>("SELECT account_hash($1) AS h", [account]);
  return shardOfHash(row!.h, count);
}

/** Accounts named `<prefix>-<n>` whose builds the given shard admits, `wanted` of them. */
export async function accountsOfShard(
  platform: BuildsPlatform,
  prefix: string,
  shard: number,
  count: number,
  wanted: number,
): Promise<string[]> {
  const found: string[] = [];
  for (let n = 0; found.length < wanted; n++) {
    if (n > 10_000) throw new Error(`no ${wanted} accounts of shard ${shard} among ${prefix}-0..${n}`);
    const account = `${prefix}-${n}`;
    if ((await shardOfAccount(platform, account, count)) === shard) found.push(account);
  }
  return found;
}
