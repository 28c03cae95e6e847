import { symlinkSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import { dropCreated, freshDatabase as freshDatabaseOn, rows, tableExists } from "../test/postgres";
import {
  type AppliedMigration,
  applySqlMigrations,
  planSqlMigrations,
  readSqlMigrations,
  type SqlMigration,
  SqlMigrationError,
} from "./sql-migrations";

const superuserUrl = inject("postgresUrl");
/** A new, empty database on the test server, so that tests never see each other's tables. */
const freshDatabase = () => freshDatabaseOn(superuserUrl, "mig");
/** Writes a migrations folder; a `null` content deletes the file. */
const folder = tempFolders("sql-mig-");

const apply = (url: string, dir: string, extra: { allowDataLoss?: string[]; schema?: string } = {}) =>
  applySqlMigrations({ connectionString: url, schema: "app", migrations: readSqlMigrations(dir), ...extra });

const history = (url: string, schema = "app") =>
  rows(
    url,
    `SELECT version, name, checksum, duration_ms FROM "${schema}".schema_migrations ORDER BY version`,
  );

afterAll(removeTempFolders);
afterAll(() => dropCreated(superuserUrl));

const BASE = {
  "0001_builds.sql": "CREATE TABLE builds (id serial PRIMARY KEY, status text NOT NULL);",
  "0002_seed.sql": "INSERT INTO builds (status) VALUES ('queued');",
  "0003_branch.sql": "ALTER TABLE builds ADD COLUMN branch text;",
};

describe("applySqlMigrations against PostgreSQL", () => {
  it("applies every file in order into the schema and records each in the history table", async () => {
    const url = await freshDatabase();
    const dir = folder(BASE);
    const result = await apply(url, dir);
    expect(result.alreadyApplied).toBe(0);
    expect(result.applied.map((m) => m.name)).toEqual(Object.keys(BASE));
    expect(await rows(url, "SELECT status, branch FROM app.builds")).toEqual([
      { status: "queued", branch: null },
    ]);
    const recorded = await history(url);
    expect(recorded.map((r) => [r.version, r.name, r.checksum])).toEqual(
      readSqlMigrations(dir).map((m) => [m.version, m.name, m.checksum]),
    );
    expect(recorded.every((r) => Number.isInteger(r.duration_ms) && r.duration_ms >= 0)).toBe(true);
    expect(await tableExists(url, "public.builds")).toBe(false);
  });

  it("applies nothing when run again", async () => {
    const url = await freshDatabase();
    const dir = folder(BASE);
    await apply(url, dir);
    const again = await apply(url, dir);
    expect(again).toEqual({ applied: [], alreadyApplied: 3 });
    expect(await rows(url, "SELECT count(*)::int AS n FROM app.builds")).toEqual([{ n: 1 }]);
    expect(await history(url)).toHaveLength(3);
  });

  it("refuses a file edited after it was applied, and runs nothing else", async () => {
    const url = await freshDatabase();
    const dir = folder({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0002_seed.sql": BASE["0002_seed.sql"],
    });
    await apply(url, dir);
    folder(
      {
        "0002_seed.sql": "INSERT INTO builds (status) VALUES ('running');",
        "0003_logs.sql": "CREATE TABLE logs (id int);",
      },
      dir,
    );
    await expect(apply(url, dir)).rejects.toThrow(
      /0002_seed\.sql was edited after it was applied \(checksum [0-9a-f]{8}… ≠ [0-9a-f]{8}…\): add a new migration instead/,
    );
    expect(await tableExists(url, "app.logs")).toBe(false);
    expect(await history(url)).toHaveLength(2);
  });

  it("serialises concurrent runs: each file is applied exactly once", async () => {
    const url = await freshDatabase();
    const dir = folder({
      ...BASE,
      "0004_slow.sql": "SELECT pg_sleep(0.3); INSERT INTO builds (status) VALUES ('slow');",
    });
    const results = await Promise.all([1, 2, 3, 4].map(() => apply(url, dir)));
    expect(results.flatMap((r) => r.applied.map((m) => m.name)).sort()).toEqual([
      ...Object.keys(BASE),
      "0004_slow.sql",
    ]);
    expect(await rows(url, "SELECT status FROM app.builds ORDER BY id")).toEqual([
      { status: "queued" },
      { status: "slow" },
    ]);
    expect(await history(url)).toHaveLength(4);
  });

  it("rolls back a failing file, keeps the earlier ones, and names the file and line", async () => {
    const url = await freshDatabase();
    const dir = folder({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0002_seed.sql": BASE["0002_seed.sql"],
      "0003_broken.sql":
        "CREATE TABLE partial (id int);\nINSERT INTO builds (status) VALUES ('half');\nSELEC 1;",
      "0004_never.sql": "CREATE TABLE never (id int);",
    });
    const error = await apply(url, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SqlMigrationError);
    expect((error as Error).message).toMatch(
      /^0003_broken\.sql failed at line 3: syntax error at or near "SELEC"/,
    );
    expect(await tableExists(url, "app.partial")).toBe(false);
    expect(await tableExists(url, "app.never")).toBe(false);
    expect(await rows(url, "SELECT status FROM app.builds")).toEqual([{ status: "queued" }]);
    expect((await history(url)).map((r) => r.name)).toEqual(["0001_builds.sql", "0002_seed.sql"]);
  });

  it("refuses a data-loss file without opt-in and applies it with one", async () => {
    const url = await freshDatabase();
    const dir = folder({ "0001_builds.sql": BASE["0001_builds.sql"], "0002_drop.sql": "DROP TABLE builds;" });
    await expect(apply(url, dir)).rejects.toThrow(
      'SQL migrations refused: 0002_drop.sql destroys data (DROP TABLE builds): list "0002_drop.sql" in allowDataLoss to apply it',
    );
    expect(await history(url)).toEqual([]);
    const result = await apply(url, dir, { allowDataLoss: ["0002_drop.sql"] });
    expect(result.applied.map((m) => m.name)).toEqual(["0001_builds.sql", "0002_drop.sql"]);
    expect(await tableExists(url, "app.builds")).toBe(false);
  });

  it("refuses a new file numbered before the newest applied one", async () => {
    const url = await freshDatabase();
    const dir = folder({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0003_branch.sql": BASE["0003_branch.sql"],
    });
    await apply(url, dir);
    folder({ "0002_seed.sql": BASE["0002_seed.sql"] }, dir);
    await expect(apply(url, dir)).rejects.toThrow(
      "0002_seed.sql is older than 0003_branch.sql, which is already applied: renumber it after 3",
    );
    expect(await rows(url, "SELECT count(*)::int AS n FROM app.builds")).toEqual([{ n: 0 }]);
  });

  it("refuses when an applied file is missing from the folder", async () => {
    const url = await freshDatabase();
    const dir = folder({
      "0001_builds.sql": BASE["0001_builds.sql"],
      "0002_seed.sql": BASE["0002_seed.sql"],
    });
    await apply(url, dir);
    folder({ "0001_builds.sql": null, "0003_branch.sql": BASE["0003_branch.sql"] }, dir);
    await expect(apply(url, dir)).rejects.toThrow(
      "0001_builds.sql was applied but is missing from the migrations folder",
    );
    expect(
      await rows(url, "SELECT column_name FROM information_schema.columns WHERE column_name = 'branch'"),
    ).toEqual([]);
  });

  it("quotes the schema and history table names", async () => {
    const url = await freshDatabase();
    const schema = 'Tenant "A"; drop';
    const result = await applySqlMigrations({
      connectionString: url,
      schema,
      table: "Migrations",
      migrations: readSqlMigrations(folder(BASE)),
    });
    expect(result.applied).toHaveLength(3);
    expect(await rows(url, `SELECT count(*)::int AS n FROM "Tenant ""A""; drop"."Migrations"`)).toEqual([
      { n: 3 },
    ]);
    expect(await rows(url, `SELECT status FROM "Tenant ""A""; drop".builds`)).toEqual([{ status: "queued" }]);
  });
});

describe("readSqlMigrations", () => {
  it("reads numbered .sql files in number order, ignores other files, and normalises CRLF in the checksum", () => {
    const dir = folder({
      "0010_later.sql": "SELECT 10;\r\n",
      "0002_first.sql": "SELECT 2;\n",
      "README.md": "not a migration",
      "0003_notes.txt": "ignored",
    });
    symlinkSync(path.join(dir, "0002_first.sql"), path.join(dir, "0011_linked.sql"));
    const migrations = readSqlMigrations(dir);
    expect(migrations.map((m) => [m.version, m.name])).toEqual([
      [2, "0002_first.sql"],
      [10, "0010_later.sql"],
      [11, "0011_linked.sql"],
    ]);
    expect(migrations[1]?.sql).toBe("SELECT 10;\n");
    const lf = readSqlMigrations(folder({ "0010_later.sql": "SELECT 10;\n" }))[0];
    expect(migrations[1]?.checksum).toBe(lf?.checksum);
    expect(migrations[1]?.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it("returns nothing for an empty folder", () => {
    expect(readSqlMigrations(folder({}))).toEqual([]);
  });

  it.each([
    ["001_short.sql", /001_short\.sql is not named NNNN_some_name\.sql/],
    ["0001_CamelCase.sql", /0001_CamelCase\.sql is not named/],
    ["0001-dash.sql", /0001-dash\.sql is not named/],
    ["init.sql", /init\.sql is not named/],
    ["99999999999_big.sql", /99999999999_big\.sql: version 99999999999 is above the maximum/],
  ])("refuses the file name %s", (name, message) => {
    const dir = folder({ "0001_ok.sql": "SELECT 1;", [name]: "SELECT 1;" });
    expect(() => readSqlMigrations(dir)).toThrow(message);
  });

  it("refuses two files with one number, naming both", () => {
    const dir = folder({ "0001_a.sql": "SELECT 1;", "00001_b.sql": "SELECT 1;" });
    expect(() => readSqlMigrations(dir)).toThrow(
      "0001_a.sql and 00001_b.sql share version 1: renumber one of them",
    );
  });

  it("refuses a folder that does not exist", () => {
    expect(() => readSqlMigrations("/nonexistent/migrations")).toThrow(
      "migrations folder /nonexistent/migrations does not exist",
    );
  });
});

const file = (version: number, name: string, sql = "SELECT 1;", checksum = `sum-${name}`): SqlMigration => ({
  version,
  name,
  sql,
  checksum,
});
const row = (m: SqlMigration, checksum = m.checksum): AppliedMigration => ({
  version: m.version,
  name: m.name,
  checksum,
});
const a = file(1, "0001_a.sql");
const b = file(2, "0002_b.sql");
const c = file(3, "0003_c.sql");
const drop = file(4, "0004_drop.sql", "DROP TABLE builds;");

describe("planSqlMigrations", () => {
  it.each<[string, SqlMigration[], AppliedMigration[], string[], string[]]>([
    ["nothing applied yet", [a, b], [], [], ["0001_a.sql", "0002_b.sql"]],
    ["some applied", [a, b, c], [row(a)], [], ["0002_b.sql", "0003_c.sql"]],
    ["all applied", [a, b], [row(a), row(b)], [], []],
    ["unsorted input", [c, a, b], [row(a)], [], ["0002_b.sql", "0003_c.sql"]],
    ["data loss allowed", [a, drop], [row(a)], ["0004_drop.sql"], ["0004_drop.sql"]],
    ["data loss in an applied file is not re-checked", [a, drop], [row(a), row(drop)], [], []],
  ])("%s", (_label, files, applied, allowDataLoss, pending) => {
    expect(planSqlMigrations(files, applied, { allowDataLoss }).pending.map((m) => m.name)).toEqual(pending);
  });

  it.each<[string, SqlMigration[], AppliedMigration[], RegExp]>([
    [
      "edited",
      [a, b],
      [row(a, "aaaaaaaaaaaa")],
      /0001_a\.sql was edited after it was applied \(checksum aaaaaaaa… ≠ sum-0001…\)/,
    ],
    [
      "missing",
      [b],
      [row(a)],
      /0001_a\.sql was applied but is missing from the migrations folder: restore it/,
    ],
    [
      "out of order",
      [a, b, c],
      [row(a), row(c)],
      /0002_b\.sql is older than 0003_c\.sql, which is already applied/,
    ],
    [
      "data loss",
      [a, drop],
      [],
      /0004_drop\.sql destroys data \(DROP TABLE builds\): list "0004_drop\.sql" in allowDataLoss/,
    ],
    ["duplicate versions", [a, file(1, "0001_again.sql")], [], /two migration files share a version number/],
  ])("refuses: %s", (_label, files, applied, message) => {
    expect(() => planSqlMigrations(files, applied, {})).toThrow(message);
  });

  it("lists every problem at once", () => {
    const error = (() => {
      try {
        planSqlMigrations([b, c, drop], [row(a), row(c, "changed")], {});
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SqlMigrationError);
    const { problems, message } = error as SqlMigrationError;
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toMatch(/0001_a\.sql was applied but is missing/);
    expect(problems.join("\n")).toMatch(/0003_c\.sql was edited/);
    expect(problems.join("\n")).toMatch(/0002_b\.sql is older than 0003_c\.sql/);
    expect(problems.join("\n")).toMatch(/0004_drop\.sql destroys data/);
    expect(message.split("\n  - ")).toHaveLength(5);
  });
});
