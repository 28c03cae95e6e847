import { describe, expect, it } from "vitest";
import { findDataLossStatements, splitSqlStatements } from "./sql-analysis";

describe("findDataLossStatements", () => {
  it.each<[string, string, string[]]>([
    ["DROP TABLE", "DROP TABLE builds;", ["DROP TABLE builds"]],
    [
      "DROP TABLE IF EXISTS, several, qualified",
      'drop table if exists app.a, "B" cascade',
      ["DROP TABLE app.a", 'DROP TABLE "B"'],
    ],
    ["DROP SCHEMA", "DROP SCHEMA app CASCADE;", ["DROP SCHEMA app"]],
    ["DROP DATABASE", "DROP DATABASE platform;", ["DROP DATABASE platform"]],
    ["TRUNCATE", "TRUNCATE builds, logs RESTART IDENTITY;", ["TRUNCATE builds", "TRUNCATE logs"]],
    ["TRUNCATE TABLE ONLY", "TRUNCATE TABLE ONLY builds;", ["TRUNCATE builds"]],
    ["DROP COLUMN", "ALTER TABLE builds DROP COLUMN status;", ["ALTER TABLE builds DROP COLUMN status"]],
    [
      "DROP without COLUMN",
      "ALTER TABLE IF EXISTS ONLY b DROP x, DROP COLUMN IF EXISTS y",
      ["ALTER TABLE b DROP COLUMN x", "ALTER TABLE b DROP COLUMN y"],
    ],
    ["DELETE without WHERE", "DELETE FROM builds;", ["DELETE FROM builds without WHERE"]],
    [
      "DELETE in a CTE",
      "WITH gone AS (DELETE FROM logs RETURNING *) SELECT count(*) FROM gone",
      ["DELETE FROM logs without WHERE"],
    ],
    [
      "DELETE with WHERE only in a subquery",
      "DELETE FROM a USING (SELECT id FROM b WHERE x) s",
      ["DELETE FROM a without WHERE"],
    ],
    [
      "DO block",
      "DO $$ BEGIN DROP TABLE old; DELETE FROM t; END $$;",
      ["DROP TABLE old", "DELETE FROM t without WHERE"],
    ],
    [
      "several statements",
      "CREATE TABLE a (id int);\nDROP TABLE b;\nTRUNCATE c;",
      ["DROP TABLE b", "TRUNCATE c"],
    ],
    ["DELETE with WHERE", "DELETE FROM builds WHERE status = 'stopped';", []],
    ["DELETE with WHERE in a CTE", "WITH g AS (DELETE FROM t WHERE id > 3 RETURNING id) SELECT * FROM g", []],
    ["ALTER COLUMN TYPE", "ALTER TABLE builds ALTER COLUMN status TYPE varchar(20);", []],
    [
      "DROP DEFAULT, NOT NULL, CONSTRAINT",
      "ALTER TABLE b ALTER COLUMN s DROP DEFAULT, ALTER s DROP NOT NULL, DROP CONSTRAINT c;",
      [],
    ],
    ["DROP INDEX and VIEW", "DROP INDEX builds_status; DROP VIEW v;", []],
    ["line comment", "-- DROP TABLE builds;\nSELECT 1;", []],
    ["block comment, nested", "/* outer /* DROP TABLE a; */ TRUNCATE b; */ SELECT 1", []],
    ["string literal", "INSERT INTO notes VALUES ('DROP TABLE builds; DELETE FROM x');", []],
    ["escaped quotes", "INSERT INTO n VALUES ('it''s; DROP TABLE a'), (E'\\'; TRUNCATE b')", []],
    ["quoted identifier", 'CREATE TABLE "drop table x" (id int);', []],
    [
      "function body runs later",
      "CREATE FUNCTION f() RETURNS void AS $fn$ DELETE FROM t $fn$ LANGUAGE sql;",
      [],
    ],
    ["SQLite trigger body runs later", "CREATE TRIGGER tr AFTER INSERT ON a BEGIN DELETE FROM b; END;", []],
  ])("%s", (_label, sql, expected) => {
    expect(findDataLossStatements(sql)).toEqual(expected);
  });
});

describe("splitSqlStatements", () => {
  it.each<[string, string, string[]]>([
    [
      "plain",
      "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);",
      ["CREATE TABLE a (x)", "INSERT INTO a VALUES (1)"],
    ],
    ["no trailing semicolon, empty statements", ";;SELECT 1;;SELECT 2", ["SELECT 1", "SELECT 2"]],
    [
      "semicolons in strings and comments",
      "SELECT ';' -- ;\n; /* ; */ SELECT \"a;b\"",
      ["SELECT ';'", 'SELECT "a;b"'],
    ],
    ["only comments", "-- nothing\n/* here */", []],
    [
      "SQLite trigger with CASE",
      "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = CASE WHEN 1 THEN 2 END; DELETE FROM b; END; SELECT 1",
      [
        "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET x = CASE WHEN 1 THEN 2 END; DELETE FROM b; END",
        "SELECT 1",
      ],
    ],
    [
      "a column named begin",
      "CREATE TABLE a (begin int); SELECT 1",
      ["CREATE TABLE a (begin int)", "SELECT 1"],
    ],
    [
      "dollar quotes",
      "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT $1",
      ["CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT $1"],
    ],
  ])("%s", (_label, sql, expected) => {
    expect(splitSqlStatements(sql)).toEqual(expected);
  });
});
