/**
 * The queues `bench:scheduler` measures, and admission rounds run from Node with a given statement (the
 * replaced one as the baseline of the policy, the current one as a check of the Durable Object's figures).
 */
import type pg from "pg";
import { SEED_ADMIT_SQL } from "../test/builds/seed-admission";
import {
  ADMIT_SQL,
  type AdmitRow,
  ALL_ACCOUNTS,
  admitParams,
  type HashRange,
  parseAdmission,
} from "../workers-src/builds/management/admission";

export interface Limits {
  perAccount: number;
  global: number;
}

/**
 * `queued` builds across `accounts` accounts, as `queueBuilds` takes them (oldest first): one account with
 * `big` builds, all older than the others', then the rest in turns over the other accounts.
 */
export function mixedQueue(prefix: string, queued: number, accounts: number, big: number): string[] {
  const others = Array.from({ length: accounts - 1 }, (_, i) => `${prefix}-${i}`);
  return [
    ...Array.from({ length: big }, () => `${prefix}-big`),
    ...Array.from({ length: queued - big }, (_, i) => others[i % others.length]!),
  ];
}

/** One build in each of `accounts` accounts. */
export function spreadQueue(prefix: string, accounts: number): string[] {
  return Array.from({ length: accounts }, (_, i) => `${prefix}-${i}`);
}

export type Statement = "current" | "replaced";

/**
 * One admission round of `statement`, in its own transaction when `rollback` (nothing stays claimed); the
 * current statement over the accounts of `range` only, as a shard runs it.
 */
export async function admitFromNode(
  db: pg.Client,
  statement: Statement,
  limits: Limits,
  rollback = false,
  range: HashRange = ALL_ACCOUNTS,
): Promise<{ admitted: string[]; ms: number }> {
  if (rollback) await db.query("BEGIN");
  const started = performance.now();
  const admitted =
    statement === "current"
      ? parseAdmission(
          (
            await db.query<AdmitRow>(
              ADMIT_SQL,
              admitParams({ perAccount: limits.perAccount, ceiling: limits.global, range }),
            )
          ).rows,
        ).admitted
      : (await db.query<{ build_uuid: string }>(SEED_ADMIT_SQL, [limits.perAccount, limits.global])).rows.map(
          (r) => r.build_uuid,
        );
  const ms = performance.now() - started;
  if (rollback) await db.query("ROLLBACK");
  return { admitted, ms };
}

export async function releaseFromNode(db: pg.Client): Promise<void> {
  await db.query(
    `UPDATE builds SET status = 'stopped', build_outcome = 'success', stopped_at = clock_timestamp()
      WHERE status IN ('initializing', 'running')`,
  );
}

/**
 * Rounds of `statement` from Node, each admitting what fits and then releasing it, until `watched` is
 * admitted: answers in which round (1 = the first round run).
 */
export async function roundsUntilAdmitted(
  db: pg.Client,
  statement: Statement,
  limits: Limits,
  watched: string,
  maxRounds: number,
): Promise<number | undefined> {
  for (let round = 1; round <= maxRounds; round++) {
    const { admitted } = await admitFromNode(db, statement, limits);
    await releaseFromNode(db);
    if (admitted.includes(watched)) return round;
    if (admitted.length === 0) return undefined;
  }
  return undefined;
}
