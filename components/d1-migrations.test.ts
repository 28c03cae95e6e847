import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import {
  applyD1Migrations,
  type D1Executor,
  type D1Migration,
  d1BindingExecutor,
  readD1Migrations,
} from "./d1-migrations";
import { SqlMigrationError } from "./sql-migrations";

// One D1 database per test, so that tests never see each other's tables.
const DATABASES = [
  "fresh",
  "reapply",
  "schema",
  "wrangler",
  "failing",
  "missing",
  "dataloss",
  "trigger",
  "params",
];
let mf: Miniflare;
const folder = tempFolders("d1-mig-");

beforeAll(async () => {
  mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: "export default { fetch() { return new Response('') } }",
      d1Databases: Object.fromEntries(DATABASES.map((name) => [name.toUpperCase(), `test-${name}`])),
    }),
  );
  await mf.ready;
});

afterAll(async () => {
  await mf?.dispose();
  removeTempFolders();
});

async function database(name: string): Promise<D1Executor> {
  return d1BindingExecutor(await mf.getD1Database(name.toUpperCase()));
}

const migrations = (files: Record<string, string>) => readD1Migrations(folder(files));
const history = async (db: D1Executor) =>
  (await db.query("SELECT name FROM d1_migrations ORDER BY id")).map((r) => r.name);

const BASE = {
  "0001_builds.sql": "CREATE TABLE builds (id INTEGER PRIMARY KEY, status TEXT NOT NULL);",
  "0002_seed.sql": "INSERT INTO builds (status) VALUES ('queued');\n-- trailing comment, no newline",
  "0003_branch.sql": "ALTER TABLE builds ADD COLUMN branch TEXT",
};

// As wrangler's `initMigrationsTable` writes it, whitespace included.
const WRANGLER_CREATE = `CREATE TABLE IF NOT EXISTS d1_migrations
						(
								id         INTEGER PRIMARY KEY AUTOINCREMENT,
								name       TEXT UNIQUE,
								applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
						);`;
const squash = (sql: unknown) =>
  String(sql)
    .replace(/;\s*$/, "")
    .replace(/\s+/g, " ")
    .replace(/\s*([(),])\s*/g, "$1")
    .trim();

describe("applyD1Migrations against Miniflare's D1", () => {
  it("applies every file in wrangler's order and records each name", async () => {
    const db = await database("fresh");
    const files = migrations({
      "10_index.sql": "CREATE INDEX builds_status ON builds (status);",
      "2_seed.sql": "INSERT INTO builds (status) VALUES ('queued'), ('it''s; fine');",
      "1_builds.sql": BASE["0001_builds.sql"],
    });
    expect(files.map((m) => m.name)).toEqual(["1_builds.sql", "2_seed.sql", "10_index.sql"]);
    const lines: string[] = [];
    const result = await applyD1Migrations(db, files, { log: (l) => lines.push(l) });
    expect(result.applied).toEqual(["1_builds.sql", "2_seed.sql", "10_index.sql"]);
    expect(lines).toEqual(["applied 1_builds.sql", "applied 2_seed.sql", "applied 10_index.sql"]);
    expect(await db.query("SELECT status FROM builds ORDER BY id")).toEqual([
      { status: "queued" },
      { status: "it's; fine" },
    ]);
    expect(await history(db)).toEqual(["1_builds.sql", "2_seed.sql", "10_index.sql"]);
    expect(
      await db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'builds_status'"),
    ).toHaveLength(1);
  });

  it("applies nothing when run again", async () => {
    const db = await database("reapply");
    const files = migrations(BASE);
    expect((await applyD1Migrations(db, files)).applied).toHaveLength(3);
    expect(await applyD1Migrations(db, files)).toEqual({ applied: [] });
    expect(await db.query("SELECT count(*) AS n FROM builds")).toEqual([{ n: 1 }]);
    expect(await history(db)).toEqual(Object.keys(BASE));
  });

  it("creates the history table exactly as wrangler does", async () => {
    const db = await database("schema");
    await applyD1Migrations(db, []);
    const [table] = await db.query(
      "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'd1_migrations'",
    );
    expect(squash(table?.sql)).toBe(squash(WRANGLER_CREATE.replace(" IF NOT EXISTS", "")));
    const columns = await db.query(
      "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('d1_migrations')",
    );
    expect(columns).toEqual([
      { name: "id", type: "INTEGER", notnull: 0, dflt_value: null, pk: 1 },
      { name: "name", type: "TEXT", notnull: 0, dflt_value: null, pk: 0 },
      { name: "applied_at", type: "TIMESTAMP", notnull: 1, dflt_value: "CURRENT_TIMESTAMP", pk: 0 },
    ]);
    expect(await db.query("SELECT \"unique\" FROM pragma_index_list('d1_migrations')")).toEqual([
      { unique: 1 },
    ]);
  });

  it("continues a history that wrangler started", async () => {
    const db = await database("wrangler");
    await db.query(WRANGLER_CREATE);
    await db.query(
      `${BASE["0001_builds.sql"]}\nINSERT INTO d1_migrations (name) VALUES ('0001_builds.sql');`,
    );
    const result = await applyD1Migrations(db, migrations(BASE));
    expect(result.applied).toEqual(["0002_seed.sql", "0003_branch.sql"]);
    expect(await history(db)).toEqual(Object.keys(BASE));
  });

  it("stops at a failing file, leaves no trace of it, and names it", async () => {
    const db = await database("failing");
    const files = migrations({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0002_broken.sql":
        "CREATE TABLE half (x);\nINSERT INTO builds (status) VALUES ('half');\nINSERT INTO nope VALUES (1);",
      "0003_never.sql": "CREATE TABLE never (x);",
    });
    const error = await applyD1Migrations(db, files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlMigrationError);
    expect((error as Error).message).toMatch(/^D1 migration 0002_broken\.sql failed: .*no such table: nope/);
    const tables = await db.query("SELECT name FROM sqlite_master WHERE name IN ('half', 'never')");
    expect(tables).toEqual([]);
    expect(await db.query("SELECT count(*) AS n FROM builds")).toEqual([{ n: 0 }]);
    expect(await history(db)).toEqual(["0001_builds.sql"]);
  });

  it("refuses a history that names files missing from the folder", async () => {
    const db = await database("missing");
    await applyD1Migrations(
      db,
      migrations({ "0001_builds.sql": BASE["0001_builds.sql"], "0002_seed.sql": BASE["0002_seed.sql"] }),
    );
    const later = migrations({
      "0002_seed.sql": BASE["0002_seed.sql"],
      "0003_branch.sql": BASE["0003_branch.sql"],
    });
    await expect(applyD1Migrations(db, later)).rejects.toThrow(
      /0001_builds\.sql applied \(in d1_migrations\) but missing from the migrations folder/,
    );
    expect(await history(db)).toEqual(["0001_builds.sql", "0002_seed.sql"]);
    expect(await db.query("SELECT name FROM pragma_table_info('builds') WHERE name = 'branch'")).toEqual([]);
  });

  it("refuses a data-loss file without opt-in and applies it with one", async () => {
    const db = await database("dataloss");
    const files = migrations({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0002_wipe.sql": "DELETE FROM builds;",
    });
    await expect(applyD1Migrations(db, files)).rejects.toThrow(
      'D1 migrations refused: 0002_wipe.sql destroys data (DELETE FROM builds without WHERE): list "0002_wipe.sql" in allowDataLoss',
    );
    expect(await db.query("SELECT name FROM sqlite_master WHERE name = 'builds'")).toEqual([]);
    const result = await applyD1Migrations(db, files, { allowDataLoss: ["0002_wipe.sql"] });
    expect(result.applied).toEqual(["0001_builds.sql", "0002_wipe.sql"]);
  });

  it("keeps a trigger's BEGIN ... END body whole", async () => {
    const db = await database("trigger");
    const trigger = `CREATE TABLE events (kind TEXT);
CREATE TABLE counts (kind TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TRIGGER count_events AFTER INSERT ON events BEGIN
  INSERT INTO counts (kind, n) VALUES (new.kind, 0) ON CONFLICT (kind) DO NOTHING;
  UPDATE counts SET n = n + CASE WHEN new.kind = 'x;y' THEN 10 ELSE 1 END WHERE kind = new.kind;
END;
INSERT INTO events VALUES ('a'), ('x;y');`;
    await applyD1Migrations(db, migrations({ "0001_events.sql": trigger }));
    expect(await db.query("SELECT kind, n FROM counts ORDER BY kind")).toEqual([
      { kind: "a", n: 1 },
      { kind: "x;y", n: 10 },
    ]);
  });

  it("refuses an invalid history table name before touching the database", async () => {
    const calls: string[] = [];
    const spy: D1Executor = {
      async query(sql) {
        calls.push(sql);
        return [];
      },
    };
    await expect(applyD1Migrations(spy, [], { table: "x; DROP TABLE y" })).rejects.toThrow(
      'D1 migrations table "x; DROP TABLE y" must be a plain identifier',
    );
    expect(calls).toEqual([]);
  });
});

describe("d1BindingExecutor", () => {
  it("binds parameters to a single statement and returns the last statement's rows", async () => {
    const db = await database("params");
    await db.query("CREATE TABLE kv (k TEXT, v TEXT); INSERT INTO kv VALUES ('a', '1')");
    await db.query("INSERT INTO kv VALUES (?, ?)", ["b", "2"]);
    expect(await db.query("SELECT v FROM kv WHERE k = ?", ["b"])).toEqual([{ v: "2" }]);
    expect(await db.query("-- nothing to run")).toEqual([]);
    await expect(db.query("SELECT ?; SELECT ?", [1, 2])).rejects.toThrow(
      "2 parameter(s) given for 2 statements",
    );
  });
});

describe("readD1Migrations", () => {
  it("reads every .sql file by number, then name, with a CRLF-insensitive checksum", () => {
    const files: D1Migration[] = readD1Migrations(
      folder({
        "0002_b.sql": "SELECT 2;\r\n",
        "0001_a.sql": "SELECT 1;",
        "init.sql": "SELECT 0;",
        "notes.md": "x",
      }),
    );
    expect(files.map((m) => m.name)).toEqual(["0001_a.sql", "0002_b.sql", "init.sql"]);
    expect(files[1]?.sql).toBe("SELECT 2;\n");
    expect(files[1]?.checksum).toBe(readD1Migrations(folder({ "0002_b.sql": "SELECT 2;\n" }))[0]?.checksum);
  });
});
