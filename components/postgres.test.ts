import * as pulumi from "@pulumi/pulumi";
import { afterAll, describe, expect, it } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import { capture, captureError, find, revealSecrets, shape } from "../test/mock-program";
import type { PostgresOrigin } from "./hyperdrive";
import { SQL_MIGRATIONS_TYPE } from "./migration-providers";
import { Postgres, type PostgresArgs } from "./postgres";
import { readSqlMigrations } from "./sql-migrations";

const PROVIDER = "pulumi:providers:postgresql";
const PASSWORD = "random:index/randomPassword:RandomPassword";
const ROLE = "postgresql:index/role:Role";
const DATABASE = "postgresql:index/database:Database";
const SCHEMA = "postgresql:index/schema:Schema";
const GRANT = "postgresql:index/grant:Grant";
const DEFAULT_PRIVILEGES = "postgresql:index/defaultPrivileges:DefaultPrivileges";
const EXTENSION = "postgresql:index/extension:Extension";

const folder = tempFolders("pg-component-");
afterAll(removeTempFolders);

const MIGRATIONS = {
  "0001_init.sql": "CREATE TABLE jobs (id bigserial PRIMARY KEY);\n",
  "0002_more.sql": "ALTER TABLE jobs ADD COLUMN name text;\n",
};

const base = (extra: Partial<PostgresArgs> = {}): PostgresArgs => ({
  host: "db.example.net",
  adminUser: "platform_admin",
  adminPassword: "admin-pw",
  database: "builds",
  schema: "builds",
  appRole: "builds_app",
  ...extra,
});

/** Captures one Postgres component and the values of its outputs. */
async function capturePostgres(args: PostgresArgs) {
  const seen: {
    appPassword?: string;
    appConnection?: PostgresOrigin;
    secretFields?: string[];
  } = {};
  const resources = await capture(() => {
    const pg = new Postgres("db", args);
    pg.appPassword.apply((v) => {
      seen.appPassword = v;
    });
    pulumi.output(pg.appConnection).apply((v) => {
      seen.appConnection = v;
    });
    const fields: [string, pulumi.Output<unknown>][] = Object.entries(pg.appConnection);
    Promise.all(fields.map(([, v]) => pulumi.isSecret(v))).then((secret) => {
      seen.secretFields = fields.filter((_, i) => secret[i]).map(([k]) => k);
    });
    return pg;
  });
  return { resources, ...seen };
}

describe("Postgres", () => {
  it("registers the provider, password, role, database, schema, 2 grants, 2 default privileges, extensions and migrations", async () => {
    const { resources } = await capturePostgres(
      base({ extensions: ["pgcrypto", "citext"], migrationsDir: folder(MIGRATIONS) }),
    );
    expect(shape(resources)).toEqual([
      "postgresql:index/database:Database::db-database",
      "postgresql:index/defaultPrivileges:DefaultPrivileges::db-default-sequences",
      "postgresql:index/defaultPrivileges:DefaultPrivileges::db-default-tables",
      "postgresql:index/extension:Extension::db-ext-citext",
      "postgresql:index/extension:Extension::db-ext-pgcrypto",
      "postgresql:index/grant:Grant::db-grant-connect",
      "postgresql:index/grant:Grant::db-grant-usage",
      "postgresql:index/role:Role::db-app-role",
      "postgresql:index/schema:Schema::db-schema",
      "pulumi-nodejs:dynamic/workers-platform:SqlMigrations::db-migrations",
      "pulumi:providers:postgresql::db-provider",
      "random:index/randomPassword:RandomPassword::db-app-password",
      "workers-platform:postgres:Postgres::db",
    ]);
    const component = find(resources, Postgres.TYPE, "db").urn;
    expect(resources.filter((r) => r.parent !== component).map((r) => r.name)).toEqual(["db"]);
  });

  it("registers no extensions and no migrations resource when given neither", async () => {
    let migrations: unknown = "unset";
    const resources = await capture(() => {
      migrations = new Postgres("db", base()).migrations;
    });
    expect(migrations).toBeUndefined();
    expect(
      shape(resources).filter((s) => s.startsWith(EXTENSION) || s.startsWith(SQL_MIGRATIONS_TYPE)),
    ).toEqual([]);
    expect(shape(resources)).toHaveLength(10);
  });

  it("configures the postgresql provider as the admin, password secret, superuser false, with defaults port 5432, sslmode require, database postgres", async () => {
    const { resources } = await capturePostgres(base());
    // Provider config travels as strings; connectTimeout is the provider SDK's own default.
    expect(revealSecrets(find(resources, PROVIDER, "db-provider").inputs)).toEqual({
      host: "db.example.net",
      port: "5432",
      username: "platform_admin",
      password: { secret: "admin-pw" },
      database: "postgres",
      sslmode: "require",
      superuser: "false",
      connectTimeout: "180",
    });
  });

  it("takes port, sslMode and adminDatabase from args for both the provider and the migrations' connection", async () => {
    const { resources } = await capturePostgres(
      base({
        port: 6543,
        sslMode: "verify-full",
        adminDatabase: "defaultdb",
        migrationsDir: folder(MIGRATIONS),
      }),
    );
    expect(find(resources, PROVIDER, "db-provider").inputs).toMatchObject({
      port: "6543",
      sslmode: "verify-full",
      database: "defaultdb",
    });
    expect(revealSecrets(find(resources, SQL_MIGRATIONS_TYPE, "db-migrations").inputs.connection)).toEqual({
      host: "db.example.net",
      port: 6543,
      user: "platform_admin",
      password: { secret: "admin-pw" },
      database: "builds",
      sslMode: "verify-full",
    });
  });

  it("routes every postgresql resource, and nothing else, through the component's provider", async () => {
    const { resources } = await capturePostgres(
      base({ extensions: ["pgcrypto"], migrationsDir: folder(MIGRATIONS) }),
    );
    const provider = find(resources, PROVIDER, "db-provider").urn;
    const viaProvider = resources.filter((r) => r.provider !== null);
    expect(shape(viaProvider)).toEqual([
      `${DATABASE}::db-database`,
      `${DEFAULT_PRIVILEGES}::db-default-sequences`,
      `${DEFAULT_PRIVILEGES}::db-default-tables`,
      `${EXTENSION}::db-ext-pgcrypto`,
      `${GRANT}::db-grant-connect`,
      `${GRANT}::db-grant-usage`,
      `${ROLE}::db-app-role`,
      `${SCHEMA}::db-schema`,
    ]);
    // A provider reference is `<provider URN>::<provider id>`.
    for (const r of viaProvider) expect(r.provider?.startsWith(`${provider}::`), r.name).toBe(true);
  });

  it("creates a login role whose password is the generated random result, kept secret, searching its schema", async () => {
    const { resources, appPassword } = await capturePostgres(base());
    expect(find(resources, PASSWORD, "db-app-password").inputs).toEqual({ length: 40, special: false });
    expect(appPassword).toMatch(/^dev-[0-9a-f]{24}$/);
    expect(revealSecrets(find(resources, ROLE, "db-app-role").inputs)).toEqual({
      name: "builds_app",
      login: true,
      password: { secret: appPassword },
      searchPaths: ["builds"],
    });
  });

  it("creates the database and schema owned by the admin, not by the app role", async () => {
    const { resources } = await capturePostgres(base());
    expect(find(resources, DATABASE, "db-database").inputs).toEqual({
      name: "builds",
      owner: "platform_admin",
    });
    const schema = find(resources, SCHEMA, "db-schema");
    expect(schema.inputs).toEqual({ name: "builds", database: "builds", owner: "platform_admin" });
    expect(schema.dependsOn).toEqual([find(resources, DATABASE, "db-database").urn]);
  });

  it("grants the app role CONNECT on the database and USAGE on the schema, and no more", async () => {
    const { resources } = await capturePostgres(base());
    expect(find(resources, GRANT, "db-grant-connect").inputs).toEqual({
      database: "builds",
      role: "builds_app",
      objectType: "database",
      privileges: ["CONNECT"],
    });
    expect(find(resources, GRANT, "db-grant-usage").inputs).toEqual({
      database: "builds",
      schema: "builds",
      role: "builds_app",
      objectType: "schema",
      privileges: ["USAGE"],
    });
  });

  it("gives the app role DML on tables and USAGE/SELECT/UPDATE on sequences the admin creates in the schema", async () => {
    const { resources } = await capturePostgres(base());
    const common = { database: "builds", schema: "builds", owner: "platform_admin", role: "builds_app" };
    expect(find(resources, DEFAULT_PRIVILEGES, "db-default-tables").inputs).toEqual({
      ...common,
      objectType: "table",
      privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"],
    });
    expect(find(resources, DEFAULT_PRIVILEGES, "db-default-sequences").inputs).toEqual({
      ...common,
      objectType: "sequence",
      privileges: ["USAGE", "SELECT", "UPDATE"],
    });
  });

  it("creates each extension in the application database", async () => {
    const { resources } = await capturePostgres(base({ extensions: ["pgcrypto", "citext"] }));
    expect(find(resources, EXTENSION, "db-ext-pgcrypto").inputs).toEqual({
      name: "pgcrypto",
      database: "builds",
    });
    expect(find(resources, EXTENSION, "db-ext-citext").inputs).toEqual({
      name: "citext",
      database: "builds",
    });
  });

  it.each([
    [true, [`${DATABASE}::db-database`, `${SCHEMA}::db-schema`]],
    [false, []],
    [undefined, []],
  ])("with protect: %s protects and retains exactly %j", async (protect, expected) => {
    const { resources } = await capturePostgres(
      base({ protect, extensions: ["pgcrypto"], migrationsDir: folder(MIGRATIONS) }),
    );
    expect(shape(resources.filter((r) => r.protect))).toEqual(expected);
    expect(shape(resources.filter((r) => r.retainOnDelete))).toEqual(expected);
  });

  it("runs the folder's migrations as the admin with a secret password, after the schema, grants and extensions", async () => {
    const dir = folder(MIGRATIONS);
    const { resources } = await capturePostgres(
      base({ extensions: ["pgcrypto"], migrationsDir: dir, allowDataLoss: ["0002_more.sql"] }),
    );
    const migrations = find(resources, SQL_MIGRATIONS_TYPE, "db-migrations");
    expect(revealSecrets(migrations.inputs)).toEqual({
      __provider: expect.stringContaining("applySql"),
      // Only the password is secret: the server and database the migrations go to show in a diff.
      connection: {
        host: "db.example.net",
        port: 5432,
        user: "platform_admin",
        password: { secret: "admin-pw" },
        database: "builds",
        sslMode: "require",
      },
      schema: "builds",
      migrations: readSqlMigrations(dir),
      allowDataLoss: ["0002_more.sql"],
    });
    expect(migrations.inputs.migrations).toHaveLength(2);
    expect(migrations.dependsOn).toEqual(
      [
        find(resources, SCHEMA, "db-schema").urn,
        find(resources, GRANT, "db-grant-connect").urn,
        find(resources, GRANT, "db-grant-usage").urn,
        find(resources, DEFAULT_PRIVILEGES, "db-default-tables").urn,
        find(resources, DEFAULT_PRIVILEGES, "db-default-sequences").urn,
        find(resources, EXTENSION, "db-ext-pgcrypto").urn,
      ].sort(),
    );
    expect(migrations.provider).toBeNull();
  });

  describe("transform", () => {
    const all = (transform?: PostgresArgs["transform"]) =>
      base({ extensions: ["pgcrypto", "citext"], migrationsDir: folder(MIGRATIONS), transform });
    type Entry = keyof NonNullable<PostgresArgs["transform"]>;
    // entry, its transform, the resources it reaches, the inputs it sets on each.
    const cases: [Entry, NonNullable<PostgresArgs["transform"]>, string[], Record<string, unknown>][] = [
      [
        "provider",
        { provider: (a) => ({ ...a, sslmode: "verify-full" }) },
        [`${PROVIDER}::db-provider`],
        { sslmode: "verify-full" },
      ],
      [
        "appPassword",
        { appPassword: (a) => ({ ...a, length: 64 }) },
        [`${PASSWORD}::db-app-password`],
        { length: 64 },
      ],
      [
        "appRole",
        {
          appRole: (a) => {
            a.connectionLimit = 20;
            return undefined;
          },
        },
        [`${ROLE}::db-app-role`],
        { connectionLimit: 20 },
      ],
      [
        "database",
        { database: (a) => ({ ...a, template: "template0" }) },
        [`${DATABASE}::db-database`],
        { template: "template0" },
      ],
      [
        "schema",
        { schema: (a) => ({ ...a, ifNotExists: false }) },
        [`${SCHEMA}::db-schema`],
        { ifNotExists: false },
      ],
      [
        "grant",
        { grant: (a) => ({ ...a, withGrantOption: true }) },
        [`${GRANT}::db-grant-connect`, `${GRANT}::db-grant-usage`],
        { withGrantOption: true },
      ],
      [
        "defaultPrivileges",
        { defaultPrivileges: (a) => ({ ...a, withGrantOption: true }) },
        [`${DEFAULT_PRIVILEGES}::db-default-tables`, `${DEFAULT_PRIVILEGES}::db-default-sequences`],
        { withGrantOption: true },
      ],
      [
        "extension",
        { extension: (a) => ({ ...a, schema: "public" }) },
        [`${EXTENSION}::db-ext-pgcrypto`, `${EXTENSION}::db-ext-citext`],
        { schema: "public" },
      ],
      [
        "migrations",
        { migrations: (a) => ({ ...a, allowDataLoss: ["0002_more.sql"] }) },
        [`${SQL_MIGRATIONS_TYPE}::db-migrations`],
        { allowDataLoss: ["0002_more.sql"] },
      ],
    ];

    it.each(cases)(
      "%s changes the resources it names, and nothing else",
      async (_entry, transform, reached, change) => {
        const plain = (await capturePostgres(all())).resources;
        const changed = (await capturePostgres(all(transform))).resources;
        expect(shape(changed)).toEqual(shape(plain));
        for (const key of reached) expect(shape(plain)).toContain(key);
        for (const before of plain) {
          const after = find(changed, before.type, before.name);
          const key = `${before.type}::${before.name}`;
          expect(after.inputs, key).toEqual(
            reached.includes(key) ? { ...before.inputs, ...change } : before.inputs,
          );
          expect(after.dependsOn, key).toEqual(before.dependsOn);
        }
      },
    );
  });

  it("has the role and the database, the first to reach the server, wait for what the component waits for", async () => {
    const resources = await capture(() => {
      const server = new (class extends pulumi.CustomResource {})("test:index:Server", "server", {});
      return new Postgres("db", base({ migrationsDir: folder(MIGRATIONS) }), { dependsOn: [server] });
    });
    const server = find(resources, "test:index:Server", "server").urn;
    const database = find(resources, DATABASE, "db-database").urn;
    expect(find(resources, ROLE, "db-app-role").dependsOn).toEqual(
      [server, find(resources, PASSWORD, "db-app-password").urn].sort(),
    );
    expect(find(resources, DATABASE, "db-database").dependsOn).toEqual([server]);
    // Everything else comes after them already.
    expect(find(resources, SCHEMA, "db-schema").dependsOn).toEqual([database]);
    const rest = resources.filter(
      (r) => r.type !== ROLE && r.type !== DATABASE && r.name !== "server" && r.name !== "db",
    );
    for (const r of rest) expect(r.dependsOn, r.name).not.toContain(server);
  });

  it("exposes appConnection, its password secret, as the app role with its generated password on the app database", async () => {
    const { appConnection, appPassword, secretFields } = await capturePostgres(base({ port: 6543 }));
    expect(appPassword).toMatch(/^dev-[0-9a-f]{24}$/);
    expect(appConnection).toEqual({
      host: "db.example.net",
      port: 6543,
      database: "builds",
      user: "builds_app",
      password: appPassword,
    });
    expect(secretFields).toEqual(["password"]);
  });

  it("accepts a 63-character identifier, PostgreSQL's longest", async () => {
    const resources = await capture(() => new Postgres("db", base({ schema: "s".repeat(63) })));
    expect(find(resources, SCHEMA, "db-schema").inputs.name).toBe("s".repeat(63));
  });

  it.each([
    ["database", { database: "Builds" }, 'Postgres db: database "Builds" must be a lowercase SQL identifier'],
    [
      "schema",
      { schema: "build-data" },
      'Postgres db: schema "build-data" must be a lowercase SQL identifier',
    ],
    ["appRole", { appRole: "1app" }, 'Postgres db: appRole "1app" must be a lowercase SQL identifier'],
    [
      "database",
      { database: "d".repeat(64) },
      `Postgres db: database "${"d".repeat(64)}" must be a lowercase SQL identifier`,
    ],
    [
      "appRole",
      { appRole: "app;drop" },
      'Postgres db: appRole "app;drop" must be a lowercase SQL identifier',
    ],
  ])(
    "refuses a %s that is not a lowercase SQL identifier (%j), naming the key",
    async (_key, extra, message) => {
      const err = await captureError(() => new Postgres("db", base(extra)));
      expect(err.message).toBe(message);
    },
  );

  it("refuses a migrations folder with a misnamed file, naming the file", async () => {
    const dir = folder({ ...MIGRATIONS, "init.sql": "SELECT 1;\n" });
    const err = await captureError(() => new Postgres("db", base({ migrationsDir: dir })));
    expect(err.message).toContain("init.sql is not named NNNN_some_name.sql");
  });
});
