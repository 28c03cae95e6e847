import { createHash } from "node:crypto";
import { symlinkSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import { capture, captureError, find, revealSecrets, shape } from "../test/mock-program";
import { D1Database, type D1DatabaseArgs } from "./d1";
import { D1_MIGRATIONS_TYPE } from "./migration-providers";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const DATABASE = "cloudflare:index/d1Database:D1Database";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/;

const folder = tempFolders("d1-component-");
afterAll(removeTempFolders);

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

describe("D1Database", () => {
  it("registers one database named <project>-<stack>-<name>, replication off, unprotected, and no migrations without a folder", async () => {
    const resources = await capture(() => new D1Database("db", { accountId: ACCOUNT }));
    expect(shape(resources)).toEqual([
      "cloudflare:index/d1Database:D1Database::db",
      "workers-platform:cloudflare:D1Database::db",
    ]);
    const db = find(resources, DATABASE, "db");
    expect(db.inputs).toEqual({
      accountId: ACCOUNT,
      name: "proj-test-db",
      readReplication: { mode: "disabled" },
    });
    expect(db.parent).toBe(find(resources, D1Database.TYPE, "db").urn);
    expect(shape(resources.filter((r) => r.protect || r.retainOnDelete))).toEqual([]);
  });

  it.each([
    [undefined, "disabled"],
    [false, "disabled"],
    [true, "auto"],
  ])("maps readReplication %s to mode %s", async (readReplication, mode) => {
    const resources = await capture(() => new D1Database("db", { accountId: ACCOUNT, readReplication }));
    expect(find(resources, DATABASE, "db").inputs.readReplication).toEqual({ mode });
  });

  it("uses an explicit databaseName instead of the stack name", async () => {
    const resources = await capture(
      () => new D1Database("db", { accountId: ACCOUNT, databaseName: "legacy-db" }),
    );
    expect(find(resources, DATABASE, "db").inputs.name).toBe("legacy-db");
  });

  it("applies a migrations folder through a D1Migrations child that depends on the database and targets its uuid", async () => {
    const dir = folder({
      "0002_more.sql": "CREATE TABLE b (id INTEGER);\r\nDROP TABLE a;\r\n",
      "0001_init.sql": "CREATE TABLE a (id INTEGER);\n",
    });
    let uuid: string | undefined;
    const resources = await capture(() => {
      const db = new D1Database("db", {
        accountId: ACCOUNT,
        migrationsDir: dir,
        allowDataLoss: ["0002_more.sql"],
      });
      db.id.apply((id) => {
        uuid = id;
      });
    });
    expect(shape(resources)).toEqual([
      "cloudflare:index/d1Database:D1Database::db",
      "pulumi-nodejs:dynamic/workers-platform:D1Migrations::db-migrations",
      "workers-platform:cloudflare:D1Database::db",
    ]);
    expect(uuid).toMatch(UUID);
    const migrations = find(resources, D1_MIGRATIONS_TYPE, "db-migrations");
    expect(migrations.inputs).toEqual({
      // The dynamic provider's serialized closure, which carries the bundled migration runtime.
      __provider: expect.stringContaining("applyD1"),
      accountId: ACCOUNT,
      databaseId: uuid,
      migrations: [
        {
          name: "0001_init.sql",
          sql: "CREATE TABLE a (id INTEGER);\n",
          checksum: sha256("CREATE TABLE a (id INTEGER);\n"),
        },
        {
          name: "0002_more.sql",
          sql: "CREATE TABLE b (id INTEGER);\nDROP TABLE a;\n",
          checksum: sha256("CREATE TABLE b (id INTEGER);\nDROP TABLE a;\n"),
        },
      ],
      allowDataLoss: ["0002_more.sql"],
    });
    expect(migrations.parent).toBe(find(resources, D1Database.TYPE, "db").urn);
    expect(migrations.dependsOn).toEqual([find(resources, DATABASE, "db").urn]);
  });

  it("defaults allowDataLoss to none and sends no apiToken without the cloudflare:apiToken config", async () => {
    const dir = folder({ "0001_init.sql": "CREATE TABLE a (id INTEGER);\n" });
    const resources = await capture(() => new D1Database("db", { accountId: ACCOUNT, migrationsDir: dir }));
    const migrations = find(resources, D1_MIGRATIONS_TYPE, "db-migrations");
    expect(migrations.inputs.allowDataLoss).toEqual([]);
    expect(migrations.inputs).not.toHaveProperty("apiToken");
  });

  it("passes the cloudflare:apiToken config to the migrations as a secret apiToken input", async () => {
    const dir = folder({ "0001_init.sql": "CREATE TABLE a (id INTEGER);\n" });
    const resources = await capture(() => new D1Database("db", { accountId: ACCOUNT, migrationsDir: dir }), {
      "cloudflare:apiToken": "tok",
    });
    const migrations = find(resources, D1_MIGRATIONS_TYPE, "db-migrations");
    expect(revealSecrets(migrations.inputs.apiToken)).toEqual({ secret: "tok" });
  });

  it("protects and retains the database, and only the database, when protect is true", async () => {
    const dir = folder({ "0001_init.sql": "CREATE TABLE a (id INTEGER);\n" });
    const resources = await capture(
      () => new D1Database("db", { accountId: ACCOUNT, migrationsDir: dir, protect: true }),
    );
    expect(shape(resources.filter((r) => r.protect))).toEqual([`${DATABASE}::db`]);
    expect(shape(resources.filter((r) => r.retainOnDelete))).toEqual([`${DATABASE}::db`]);
  });

  it.each([
    ["database", `${DATABASE}::db`, { primaryLocationHint: "weur" }],
    ["migrations", `${D1_MIGRATIONS_TYPE}::db-migrations`, { allowDataLoss: ["0001_init.sql"] }],
  ] as const)("transform.%s adjusts that child's args and nothing else", async (entry, changedKey, set) => {
    const dir = folder({ "0001_init.sql": "CREATE TABLE a (id INTEGER);\n" });
    const program = (transform?: D1DatabaseArgs["transform"]) => () =>
      new D1Database("db", { accountId: ACCOUNT, migrationsDir: dir, transform });
    const plain = await capture(program());
    const changed = await capture(program({ [entry]: (args: object) => ({ ...args, ...set }) }));
    expect(shape(changed)).toEqual(shape(plain));
    expect(shape(plain)).toContain(changedKey);
    for (const before of plain) {
      const key = `${before.type}::${before.name}`;
      const after = find(changed, before.type, before.name);
      expect(after.inputs, key).toEqual(key === changedKey ? { ...before.inputs, ...set } : before.inputs);
      expect(after.dependsOn, key).toEqual(before.dependsOn);
    }
  });

  it("refuses a migrations folder that does not exist, naming it", async () => {
    const missing = path.join(folder({}), "no-such-folder");
    const err = await captureError(
      () => new D1Database("db", { accountId: ACCOUNT, migrationsDir: missing }),
    );
    expect(err.message).toBe(`migrations folder ${missing} does not exist`);
  });

  it("refuses a folder whose .sql file cannot be read (a dangling link), naming the file", async () => {
    const dir = folder({ "0001_init.sql": "CREATE TABLE a (id INTEGER);\n" });
    symlinkSync(path.join(dir, "nowhere"), path.join(dir, "0002_gone.sql"));
    const err = await captureError(() => new D1Database("db", { accountId: ACCOUNT, migrationsDir: dir }));
    expect(err.message).toContain(path.join(dir, "0002_gone.sql"));
  });
});
