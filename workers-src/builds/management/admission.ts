/**
 * How the scheduler picks queued builds, and which accounts a shard of it owns. Pure SQL text and
 * arithmetic, so that the node tests run the very statement against PostgreSQL.
 */

/** One round of admission: what `ADMIT_SQL` claimed and what it saw waiting. */
export interface Admission {
  /** Builds moved from `queued` to `initializing` by this statement. */
  admitted: string[];
  /** Builds the accounts held (`initializing` or `running`) before this statement, within the range. */
  held: number;
  /**
   * Builds that fit their account's limit but not the ceiling, by slot: `waiting[0]` is how many would be
   * their account's first held build, `waiting[1]` its second, and so on. At most `demandCap` are counted.
   */
  waiting: number[];
  /**
   * Every build held or wanted, by slot: the held builds (an account holding n fills slots 1 to n), those
   * admitted now, and `waiting`. What a shard asks its share of the global capacity for.
   */
  demand: number[];
}

/**
 * Admits queued builds within the accounts of one hash range (`$3`..`$4`): at most `$1` builds held per
 * account and `$2` held in the range (the global limit, or a shard's lease). Fairness: a queued build's
 * slot is the number of builds its account holds plus its place in the account's queue; builds go by slot,
 * then by their account's last admission (never, then longest ago, first), then age. An account's first
 * waiting build goes before any account's second, and among first builds the accounts served least
 * recently go first, so an account with a long queue cannot take the capacity ahead of another account's
 * single build, and takes one turn in each round robin over the accounts waiting. Each admission stamps
 * its account's `last_admitted_at` (migration 0006).
 *
 * Its cost follows the accounts waiting, not the builds queued: the accounts with queued builds are found
 * one index probe each (a loose index scan of `builds_queued_by_account`, which also yields each account's
 * oldest build), and an account's later builds are read only as deep as their slot can still be admitted.
 * Besides the builds that fit, it ranks up to `$5` more and counts them by slot (`waiting`); with the held
 * builds by slot (`demand`), that is what a shard reports when it asks for capacity.
 *
 * One statement decides and claims: the UPDATE re-checks `status = 'queued'`, so a build is never
 * admitted twice, and a build cancelled meanwhile is left alone.
 */
export const ADMIT_SQL = `
WITH RECURSIVE waiting AS (
  (SELECT account_hash(account_id) AS h, account_id, created_at, build_uuid FROM builds
    WHERE status = 'queued' AND account_hash(account_id) BETWEEN $3 AND $4
    ORDER BY 1, 2, 3, 4 LIMIT 1)
  UNION ALL
  SELECT n.h, n.account_id, n.created_at, n.build_uuid FROM waiting w CROSS JOIN LATERAL (
    SELECT account_hash(b.account_id) AS h, b.account_id, b.created_at, b.build_uuid FROM builds b
     WHERE b.status = 'queued' AND (account_hash(b.account_id), b.account_id) > (w.h, w.account_id)
       AND account_hash(b.account_id) <= $4
     ORDER BY 1, 2, 3, 4 LIMIT 1) n
), active AS (
  SELECT account_id, count(*)::int AS n FROM builds
   WHERE status IN ('initializing', 'running') AND account_hash(account_id) BETWEEN $3 AND $4
   GROUP BY account_id
), room AS (
  SELECT greatest($2 - coalesce(sum(n), 0), 0)::int AS free, coalesce(sum(n), 0)::int AS held FROM active
), firsts AS (
  SELECT w.h, w.account_id, w.created_at, w.build_uuid, coalesce(a.n, 0) AS held, acc.last_admitted_at AS served
    FROM waiting w LEFT JOIN active a USING (account_id) JOIN accounts acc ON acc.id = w.account_id
   WHERE coalesce(a.n, 0) < $1
), cutoff AS (
  -- With k builds wanted, no build whose slot is above the k-th lowest first slot can be among them.
  SELECT coalesce(
    (SELECT held + 1 FROM firsts ORDER BY held
      LIMIT 1 OFFSET greatest((SELECT free FROM room) + $5 - 1, 0)),
    $1) AS slot
), candidates AS (
  SELECT build_uuid, created_at, held + 1 AS slot, served FROM firsts
  UNION ALL
  SELECT c.build_uuid, c.created_at, f.held + 1 + c.pos AS slot, f.served
    FROM firsts f CROSS JOIN cutoff x CROSS JOIN LATERAL (
      SELECT b.build_uuid, b.created_at, row_number() OVER (ORDER BY b.created_at, b.build_uuid) AS pos
        FROM builds b
       WHERE b.status = 'queued' AND account_hash(b.account_id) = f.h AND b.account_id = f.account_id
         AND (b.created_at, b.build_uuid) > (f.created_at, f.build_uuid)
       ORDER BY b.created_at, b.build_uuid
       LIMIT greatest(least(x.slot, $1) - f.held - 1, 0)
    ) c
), ranked AS (
  SELECT build_uuid, slot,
         row_number() OVER (ORDER BY slot, served NULLS FIRST, created_at, build_uuid) AS ord
    FROM candidates
), claimed AS (
  UPDATE builds SET status = 'initializing', initializing_at = clock_timestamp()
    FROM ranked r
   WHERE builds.build_uuid = r.build_uuid AND r.ord <= (SELECT free FROM room) AND builds.status = 'queued'
  RETURNING builds.build_uuid, builds.account_id
), served AS (
  UPDATE accounts SET last_admitted_at = clock_timestamp() WHERE id IN (SELECT account_id FROM claimed)
)
SELECT 'admitted' AS kind, build_uuid::text AS build_uuid, NULL::int AS slot, NULL::int AS n FROM claimed
UNION ALL
SELECT 'waiting', NULL, slot::int, count(*)::int FROM ranked
 WHERE ord > (SELECT free FROM room) AND ord <= (SELECT free FROM room) + $5 GROUP BY slot
UNION ALL
SELECT 'demand', NULL, slot::int, count(*)::int FROM (
  SELECT s AS slot FROM active a CROSS JOIN generate_series(1, a.n) s
  UNION ALL
  SELECT slot FROM ranked WHERE ord <= (SELECT free FROM room) + $5
) d GROUP BY slot
UNION ALL
SELECT 'held', NULL, NULL, held FROM room`;

/** A row of `ADMIT_SQL`'s answer. */
export interface AdmitRow {
  kind: "admitted" | "waiting" | "demand" | "held";
  build_uuid: string | null;
  slot: number | null;
  n: number | null;
}

/** The parameters of `ADMIT_SQL`, in order. */
export function admitParams(options: {
  perAccount: number;
  ceiling: number;
  range: HashRange;
  /** How many builds beyond the ceiling to count in `waiting`. @default 0 */
  demandCap?: number;
}): [number, number, number, number, number] {
  const { perAccount, ceiling, range } = options;
  return [perAccount, Math.max(0, ceiling), range.lo, range.hi, Math.max(0, options.demandCap ?? 0)];
}

export function parseAdmission(rows: AdmitRow[]): Admission {
  const admitted: string[] = [];
  const waiting: number[] = [];
  const demand: number[] = [];
  let held = 0;
  for (const row of rows) {
    if (row.kind === "admitted" && row.build_uuid) admitted.push(row.build_uuid);
    else if (row.kind === "held") held = row.n ?? 0;
    else if (row.kind === "waiting" && row.slot !== null) waiting[row.slot - 1] = row.n ?? 0;
    else if (row.kind === "demand" && row.slot !== null) demand[row.slot - 1] = row.n ?? 0;
  }
  const dense = (xs: number[]) => Array.from(xs, (n) => n ?? 0);
  return { admitted, held, waiting: dense(waiting), demand: dense(demand) };
}

/** An inclusive range of `account_hash` values: the accounts one scheduler (or shard of it) owns. */
export interface HashRange {
  lo: number;
  hi: number;
}

const SPAN = 2 ** 32;
const MIN = -(2 ** 31);

export const ALL_ACCOUNTS: HashRange = { lo: MIN, hi: 2 ** 31 - 1 };

/** The hashes shard `index` of `count` owns: `count` contiguous ranges that cover every hash once. */
export function shardRange(index: number, count: number): HashRange {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`shard count must be 1 or more (got ${count})`);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError(`shard index must be between 0 and ${count - 1} (got ${index})`);
  return {
    lo: MIN + Math.ceil((index * SPAN) / count),
    hi: MIN + Math.ceil(((index + 1) * SPAN) / count) - 1,
  };
}

/** The shard of `count` that owns `hash` (an `account_hash` value). */
export function shardOfHash(hash: number, count: number): number {
  return Math.floor(((hash - MIN) * count) / SPAN);
}

/**
 * `account_hash(account_id)` as PostgreSQL computes it (migration 0005): the first four bytes of the MD5
 * of the id's UTF-8 bytes, big-endian and signed. MD5 only spreads accounts over shards here; Workers'
 * Web Crypto computes it (Node's does not, so node code asks PostgreSQL).
 */
export async function accountHash(accountId: string): Promise<number> {
  const digest = await crypto.subtle.digest("MD5", new TextEncoder().encode(accountId));
  return new DataView(digest).getInt32(0);
}

/** The name of the scheduler object of shard `index` of `count`; one scheduler is named "global". */
export function shardName(index: number, count: number): string {
  return count === 1 ? "global" : `shard-${index}-of-${count}`;
}

/** The shard a scheduler object's name stands for, or undefined for a name that is not a shard's. */
export function parseShardName(name: string | undefined): { index: number; count: number } | undefined {
  if (name === "global") return { index: 0, count: 1 };
  const match = /^shard-(\d+)-of-(\d+)$/.exec(name ?? "");
  if (!match) return undefined;
  const index = Number(match[1]);
  const count = Number(match[2]);
  return index < count ? { index, count } : undefined;
}
