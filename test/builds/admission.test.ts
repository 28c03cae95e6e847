/**
 * The scheduler's admission statement against a real PostgreSQL with the platform's migrations: who is
 * admitted under the per-account and global limits, in which order (fewest held first, then age), within
 * a shard's range, and never twice. Where the order differs from the statement it replaced, the table says
 * what that one admitted, and the test checks it still would.
 */
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { applySqlMigrations, readSqlMigrations } from "../../components/sql-migrations";
import {
  ADMIT_SQL,
  type AdmitRow,
  ALL_ACCOUNTS,
  admitParams,
  type HashRange,
  parseAdmission,
  shardRange,
} from "../../workers-src/builds/management/admission";
import { dropCreated, freshDatabase } from "../postgres";
import { SEED_ADMIT_SQL } from "./seed-admission";

const superuserUrl = inject("postgresUrl");
const MIGRATIONS = path.join(__dirname, "..", "..", "workers-src", "builds", "db", "migrations");

let url: string;
let db: pg.Client;

beforeAll(async () => {
  url = await freshDatabase(superuserUrl, "admit");
  await applySqlMigrations({
    connectionString: url,
    schema: "builds",
    migrations: readSqlMigrations(MIGRATIONS),
  });
  db = new pg.Client({ connectionString: url, options: "-c search_path=builds" });
  await db.connect();
}, 60_000);
afterAll(async () => {
  await db?.end();
  await dropCreated(superuserUrl);
});
beforeEach(async () => {
  await db.query("TRUNCATE builds, workers, accounts CASCADE");
});

const account = (letter: string) => `acct-${letter}`;

/**
 * Accounts `a`, `b`, ... holding `held` running builds each, and the queued builds `queue` ("a1", "b1", ...:
 * account letter, then anything), created in that order, oldest first. Answers label → build uuid.
 */
async function seed(held: Record<string, number>, queue: string[]): Promise<Map<string, string>> {
  const letters = [...new Set([...Object.keys(held), ...queue.map((q) => q[0]!)])];
  for (const letter of letters) {
    await db.query("INSERT INTO accounts (id) VALUES ($1)", [account(letter)]);
    await db.query("INSERT INTO workers (account_id, name) VALUES ($1, 'w')", [account(letter)]);
  }
  const insert = (letter: string, status: string, ms: number) =>
    db.query<{ build_uuid: string }>(
      `INSERT INTO builds (account_id, worker_id, source, branch, production, status, created_at)
       SELECT id, (SELECT w.id FROM workers w WHERE w.account_id = a.id), 'api', 'main', true, $2,
              timestamptz '2026-01-01' + make_interval(secs => $3::float8 / 1000)
         FROM accounts a WHERE a.id = $1 RETURNING build_uuid`,
      [account(letter), status, ms],
    );
  for (const [letter, n] of Object.entries(held)) {
    for (let i = 0; i < n; i++) await insert(letter, "running", i);
  }
  const uuids = new Map<string, string>();
  for (const [i, label] of queue.entries()) {
    uuids.set(label, (await insert(label[0]!, "queued", 1000 + i)).rows[0]!.build_uuid);
  }
  return uuids;
}

const labelsOf = (uuids: Map<string, string>, admitted: string[]) =>
  [...uuids].filter(([, uuid]) => admitted.includes(uuid)).map(([label]) => label);

async function admit(options: {
  perAccount: number;
  ceiling: number;
  range?: HashRange;
  demandCap?: number;
}) {
  const rows = await db.query<AdmitRow>(ADMIT_SQL, admitParams({ range: ALL_ACCOUNTS, ...options }));
  return parseAdmission(rows.rows);
}

describe("admission order and limits", () => {
  const cases: {
    why: string;
    perAccount: number;
    global: number;
    held?: Record<string, number>;
    /** Accounts admitted before, by how many seconds ago (the others never were). */
    served?: Record<string, number>;
    queue: string[];
    admitted: string[];
    /** What the replaced statement admitted, where it differs. */
    before?: string[];
  }[] = [
    {
      why: "an account's long queue does not take the global capacity ahead of another account's single build",
      perAccount: 100,
      global: 2,
      queue: ["a1", "a2", "a3", "a4", "a5", "b1"],
      admitted: ["a1", "b1"],
      before: ["a1", "a2"],
    },
    {
      why: "an account holding builds yields to one holding none, though its build is older",
      perAccount: 6,
      global: 3,
      held: { a: 2 },
      queue: ["a3", "b1"],
      admitted: ["b1"],
      before: ["a3"],
    },
    {
      why: "slot before age: every account's first build, then second builds, oldest first within a slot",
      perAccount: 3,
      global: 4,
      queue: ["a1", "a2", "a3", "b1", "b2", "c1"],
      admitted: ["a1", "a2", "b1", "c1"],
      before: ["a1", "a2", "a3", "b1"],
    },
    {
      why: "within a slot, the account served least recently goes first (never, then longest ago), whatever its build's age",
      perAccount: 6,
      global: 2,
      served: { a: 10, b: 60 },
      queue: ["a1", "b1", "c1"],
      admitted: ["b1", "c1"],
      before: ["a1", "b1"],
    },
    {
      why: "a long-served account's long queue takes one turn per level, like any account",
      perAccount: 100,
      global: 3,
      served: { a: 1 },
      queue: ["a1", "a2", "a3", "a4", "b1", "c1"],
      admitted: ["a1", "b1", "c1"],
      before: ["a1", "a2", "a3"],
    },
    {
      why: "builds of the same slot, of accounts never served, go oldest first",
      perAccount: 6,
      global: 2,
      queue: ["c1", "a1", "b1"],
      admitted: ["c1", "a1"],
    },
    {
      why: "the per-account limit holds when the global one leaves room",
      perAccount: 2,
      global: 10,
      held: { a: 1 },
      queue: ["a1", "a2", "a3", "b1", "b2", "b3"],
      admitted: ["a1", "b1", "b2"],
    },
    {
      why: "the global limit counts every account's held builds",
      perAccount: 6,
      global: 3,
      held: { a: 2 },
      queue: ["b1", "b2", "b3", "b4", "b5"],
      admitted: ["b1"],
    },
    {
      why: "nothing is admitted once the global limit is reached",
      perAccount: 6,
      global: 2,
      held: { a: 1, b: 1 },
      queue: ["c1"],
      admitted: [],
    },
    {
      why: "an account above a lowered limit takes nothing; others go",
      perAccount: 1,
      global: 5,
      held: { a: 2 },
      queue: ["a1", "b1"],
      admitted: ["b1"],
    },
    {
      why: "a queue deeper than the limit is read only as deep as it can be admitted",
      perAccount: 3,
      global: 50,
      queue: [...Array.from({ length: 40 }, (_, i) => `a${i}`), "b1"],
      admitted: ["a0", "a1", "a2", "b1"],
    },
  ];

  it.each(cases)("$why", async ({ perAccount, global, held = {}, served = {}, queue, admitted, before }) => {
    const uuids = await seed(held, queue);
    for (const [letter, ago] of Object.entries(served)) {
      await db.query(
        "UPDATE accounts SET last_admitted_at = clock_timestamp() - make_interval(secs => $2) WHERE id = $1",
        [account(letter), ago],
      );
    }
    const result = await admit({ perAccount, ceiling: global });
    expect(labelsOf(uuids, result.admitted).sort()).toEqual([...admitted].sort());
    expect(result.held).toBe(Object.values(held).reduce((a, b) => a + b, 0));
    const [{ n }] = (
      await db.query<{ n: number }>("SELECT count(*)::int AS n FROM builds WHERE status = 'initializing'")
    ).rows as [{ n: number }];
    expect(n).toBe(admitted.length);
    if (before) {
      await db.query(
        "UPDATE builds SET status = 'queued', initializing_at = NULL WHERE status = 'initializing'",
      );
      const seedRows = await db.query<{ build_uuid: string }>(SEED_ADMIT_SQL, [perAccount, global]);
      expect(
        labelsOf(
          uuids,
          seedRows.rows.map((r) => r.build_uuid),
        ).sort(),
      ).toEqual([...before].sort());
    }
  });
});

describe("admission claims", () => {
  it("never admits a build twice: a second round admits only what is still queued and fits", async () => {
    const uuids = await seed({}, ["a1", "a2", "b1", "c1"]);
    const first = await admit({ perAccount: 6, ceiling: 2 });
    const second = await admit({ perAccount: 6, ceiling: 4 });
    const third = await admit({ perAccount: 6, ceiling: 4 });
    expect(labelsOf(uuids, first.admitted).sort()).toEqual(["a1", "b1"]);
    expect(labelsOf(uuids, second.admitted).sort()).toEqual(["a2", "c1"]);
    expect(second.held).toBe(2);
    expect(third).toEqual({ admitted: [], held: 4, waiting: [], demand: [3, 1] });
  });

  it("admits each build at most once when two rounds run at the same time on two connections", async () => {
    await seed(
      {},
      Array.from({ length: 30 }, (_, i) => `${String.fromCharCode(97 + (i % 15))}${i}`),
    );
    const other = new pg.Client({ connectionString: url, options: "-c search_path=builds" });
    await other.connect();
    try {
      const params = admitParams({ perAccount: 6, ceiling: 100, range: ALL_ACCOUNTS });
      const [a, b] = await Promise.all([
        db.query<AdmitRow>(ADMIT_SQL, params),
        other.query<AdmitRow>(ADMIT_SQL, params),
      ]);
      const admitted = [...parseAdmission(a.rows).admitted, ...parseAdmission(b.rows).admitted];
      expect(new Set(admitted).size).toBe(admitted.length);
      expect(admitted.length).toBe(30);
    } finally {
      await other.end();
    }
  });

  it("stamps the accounts it admitted for, and only those, with the time of the admission", async () => {
    await seed({}, ["a1", "b1", "c1"]);
    const before = new Date();
    await admit({ perAccount: 6, ceiling: 2 });
    const { rows } = await db.query<{ id: string; last_admitted_at: Date | null }>(
      "SELECT id, last_admitted_at FROM accounts ORDER BY id",
    );
    expect(rows.map((r) => [r.id, r.last_admitted_at !== null])).toEqual([
      ["acct-a", true],
      ["acct-b", true],
      ["acct-c", false],
    ]);
    expect(rows[0]!.last_admitted_at!.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1000);
  });

  it("leaves stopped builds alone and counts initializing ones as held", async () => {
    const uuids = await seed({}, ["a1", "a2", "b1"]);
    await db.query(
      "UPDATE builds SET status = 'stopped', build_outcome = 'cancelled' WHERE build_uuid = $1",
      [uuids.get("a1")],
    );
    await db.query("UPDATE builds SET status = 'initializing' WHERE build_uuid = $1", [uuids.get("b1")]);
    const result = await admit({ perAccount: 1, ceiling: 5 });
    expect(labelsOf(uuids, result.admitted)).toEqual(["a2"]);
    expect(result.held).toBe(1);
  });

  it("counts what waits beyond the ceiling, and all that is held or wanted, by slot, up to the cap", async () => {
    const uuids = await seed({ a: 1 }, ["a1", "a2", "b1", "b2", "c1"]);
    expect(await admit({ perAccount: 6, ceiling: 1, demandCap: 10 })).toEqual({
      admitted: [],
      held: 1,
      waiting: [2, 2, 1],
      demand: [3, 2, 1],
    });
    const second = await admit({ perAccount: 6, ceiling: 2, demandCap: 2 });
    expect(labelsOf(uuids, second.admitted)).toEqual(["b1"]);
    expect(second).toMatchObject({ held: 1, waiting: [1, 1], demand: [3, 1] });
  });
});

describe("a shard's range", () => {
  it.each([
    ["acct-1", 349352284],
    ["local-dev-account", 551620185],
    ["", -736260903],
    ["größe-ñ", -209094694],
  ])("account_hash(%j) is %i, as the Worker computes it", async (id, hash) => {
    const { rows } = await db.query<{ h: number }>("SELECT account_hash($1) AS h", [id]);
    expect(rows[0]!.h).toBe(hash);
  });

  it("admits only its own accounts and counts only their held builds", async () => {
    // Accounts on either side of the middle: shard 0 of 2 owns negative hashes, shard 1 the rest.
    const { rows } = await db.query<{ letter: string; h: number }>(
      `SELECT l AS letter, account_hash('acct-' || l) AS h FROM unnest(string_to_array('abcdefghij', NULL)) l`,
    );
    const low = rows.find((r) => r.h < 0)!.letter;
    const high = rows.find((r) => r.h >= 0)!.letter;
    const uuids = await seed({ [low]: 2 }, [`${low}1`, `${high}1`, `${high}2`]);
    const shard1 = await admit({ perAccount: 6, ceiling: 1, range: shardRange(1, 2) });
    expect(labelsOf(uuids, shard1.admitted)).toEqual([`${high}1`]);
    expect(shard1.held).toBe(0);
    const shard0 = await admit({ perAccount: 6, ceiling: 3, range: shardRange(0, 2) });
    expect(labelsOf(uuids, shard0.admitted)).toEqual([`${low}1`]);
    expect(shard0.held).toBe(2);
  });
});
