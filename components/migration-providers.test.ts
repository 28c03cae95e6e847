import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import { capture, find } from "../test/mock-program";
import {
  dropCreated,
  dropLater,
  freshDatabase as freshDatabaseOn,
  rows,
  tableExists,
  withClient,
} from "../test/postgres";
import { readD1Migrations } from "./d1-migrations";
import {
  type D1MigrationsInputs,
  d1MigrationsProvider,
  migrationRuntimeSource,
  type PostgresConnection,
  type SqlMigrationsInputs,
  type SslMode,
  sqlMigrationsProvider,
} from "./migration-providers";
import { pgClientSettings } from "./migration-runtime";
import { readSqlMigrations } from "./sql-migrations";

const superuserUrl = inject("postgresUrl");

/** A new, empty database on the test server, so that tests never see each other's tables. */
const freshDatabase = () => freshDatabaseOn(superuserUrl, "prov");
const history = async (url: string) =>
  (await rows(url, "SELECT name FROM app.schema_migrations ORDER BY version")).map((r) => r.name);

/** Writes a migrations folder (adding to `dir` when given). */
const folder = tempFolders("prov-mig-");

/** The provider's connection object for a database URL, as the Postgres component builds it. */
function connectionOf(url: string): PostgresConnection {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    sslMode: "disable",
  };
}

function sqlInputs(url: string, dir: string, extra: Partial<SqlMigrationsInputs> = {}): SqlMigrationsInputs {
  return {
    connection: connectionOf(url),
    schema: "app",
    migrations: readSqlMigrations(dir),
    allowDataLoss: [],
    ...extra,
  };
}

afterAll(removeTempFolders);
afterAll(() => dropCreated(superuserUrl));
// The tests below call the providers' methods in this process without creating a migrations resource,
// so they bundle the runtime first, as creating one would.
beforeAll(() => {
  migrationRuntimeSource();
});

const BASE = {
  "0001_builds.sql": "CREATE TABLE builds (id serial PRIMARY KEY, status text NOT NULL);",
  "0002_seed.sql": "INSERT INTO builds (status) VALUES ('queued');",
};

describe("sqlMigrationsProvider.check (preview)", () => {
  it("passes the inputs through when nothing was applied before", async () => {
    const news = sqlInputs(superuserUrl, folder(BASE));
    expect(await sqlMigrationsProvider.check!({}, news)).toEqual({ inputs: news });
  });

  const migrations = readSqlMigrations(folder({ ...BASE, "0003_drop.sql": "DROP TABLE builds;" }));
  const [builds, seed] = migrations;
  const applied = (...ms: typeof migrations) =>
    ms.map(({ version, name, checksum }) => ({ version, name, checksum }));

  it.each<[string, { checksum?: string; allowDataLoss?: string[] }, RegExp]>([
    [
      "an applied file was edited",
      { checksum: "0".repeat(64) },
      /0001_builds\.sql was edited after it was applied/,
    ],
    ["a data-loss file is not in allowDataLoss", {}, /0003_drop\.sql destroys data \(DROP TABLE builds\)/],
  ])("refuses when %s, naming the file", async (_label, { checksum, allowDataLoss = [] }, reason) => {
    const olds = {
      applied: applied(builds!, seed!).map((m, i) => (i === 0 && checksum ? { ...m, checksum } : m)),
    };
    const news = { ...sqlInputs(superuserUrl, folder(BASE)), migrations, allowDataLoss };
    const result = await sqlMigrationsProvider.check!(olds, news);
    expect(result.inputs).toEqual(news);
    expect(result.failures).toEqual([{ property: "migrations", reason: expect.stringMatching(reason) }]);
  });

  it("accepts a data-loss file listed in allowDataLoss", async () => {
    const news = { ...sqlInputs(superuserUrl, folder(BASE)), migrations, allowDataLoss: ["0003_drop.sql"] };
    const result = await sqlMigrationsProvider.check!({ applied: applied(builds!, seed!) }, news);
    expect(result).toEqual({ inputs: news });
  });

  it("refuses an edited file from the old inputs, which is what the engine passes to check", async () => {
    const lastUp = sqlInputs(superuserUrl, folder(BASE));
    const edited = folder({ ...BASE, "0002_seed.sql": "INSERT INTO builds (status) VALUES ('running');" });
    const news = sqlInputs(superuserUrl, edited);
    const result = await sqlMigrationsProvider.check!(lastUp, news);
    expect(result.failures).toEqual([
      {
        property: "migrations",
        reason: expect.stringMatching(/0002_seed\.sql was edited after it was applied/),
      },
    ]);
  });
});

describe("d1MigrationsProvider.check (preview)", () => {
  const d1Files = (files: Record<string, string>) => readD1Migrations(folder(files));
  const inputs = (files: Record<string, string>, allowDataLoss: string[] = []) => ({
    accountId: "acc",
    databaseId: "db",
    migrations: d1Files(files),
    allowDataLoss,
  });
  const first = { "0001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY);" };
  const drop = { ...first, "0002_drop.sql": "DROP TABLE notes;" };

  it("refuses a new data-loss file that is not in allowDataLoss, naming it", async () => {
    const result = await d1MigrationsProvider.check!(inputs(first), inputs(drop));
    expect(result.failures).toEqual([
      {
        property: "migrations",
        reason: expect.stringMatching(/0002_drop\.sql destroys data \(DROP TABLE notes\)/),
      },
    ]);
  });

  it("accepts it when listed, and does not judge files that were already applied", async () => {
    expect(
      (await d1MigrationsProvider.check!(inputs(first), inputs(drop, ["0002_drop.sql"]))).failures,
    ).toBeUndefined();
    expect(
      (await d1MigrationsProvider.check!(inputs(drop, ["0002_drop.sql"]), inputs(drop))).failures,
    ).toBeUndefined();
  });
});

describe("sqlMigrationsProvider create, update and delete against PostgreSQL", () => {
  it("create applies every file into the schema and returns all of them as applied", async () => {
    const url = await freshDatabase();
    const inputs = sqlInputs(url, folder(BASE));
    const { id, outs } = await sqlMigrationsProvider.create(inputs);
    expect(id).toBe(`${inputs.connection.database}.app`);
    expect(outs).toEqual({
      ...inputs,
      applied: inputs.migrations.map(({ version, name, checksum }) => ({ version, name, checksum })),
    });
    expect(await tableExists(url, "app.builds")).toBe(true);
    expect(await tableExists(url, "public.builds")).toBe(false);
    expect(await rows(url, "SELECT status FROM app.builds")).toEqual([{ status: "queued" }]);
    expect(await history(url)).toEqual(Object.keys(BASE));
  });

  it("update applies only the file added since the last run", async () => {
    const url = await freshDatabase();
    const dir = folder(BASE);
    const { id, outs: olds } = await sqlMigrationsProvider.create(sqlInputs(url, dir));
    folder({ "0003_branch.sql": "ALTER TABLE builds ADD COLUMN branch text;" }, dir);
    const news = sqlInputs(url, dir);
    const { outs } = await sqlMigrationsProvider.update!(id, olds, news);
    expect(outs.applied.map((m: { name: string }) => m.name)).toEqual([
      ...Object.keys(BASE),
      "0003_branch.sql",
    ]);
    expect(await history(url)).toEqual([...Object.keys(BASE), "0003_branch.sql"]);
    // The seed did not run a second time.
    expect(await rows(url, "SELECT status, branch FROM app.builds")).toEqual([
      { status: "queued", branch: null },
    ]);
  });

  it("create refuses an unlisted data-loss file and applies nothing", async () => {
    const url = await freshDatabase();
    const inputs = sqlInputs(url, folder({ ...BASE, "0003_drop.sql": "DROP TABLE builds;" }));
    await expect(sqlMigrationsProvider.create(inputs)).rejects.toThrow(/0003_drop\.sql destroys data/);
    expect(await tableExists(url, "app.builds")).toBe(false);
  });

  it("delete leaves the tables and the history in place", async () => {
    const url = await freshDatabase();
    const { id, outs } = await sqlMigrationsProvider.create(sqlInputs(url, folder(BASE)));
    await sqlMigrationsProvider.delete!(id, outs);
    expect(await rows(url, "SELECT status FROM app.builds")).toEqual([{ status: "queued" }]);
    expect(await history(url)).toEqual(Object.keys(BASE));
  });

  it("create with a wrong password rejects without revealing the password", async () => {
    const url = await freshDatabase();
    const password = "Wr0ng-p@ss:w/rd";
    const inputs = sqlInputs(url, folder(BASE));
    const error = await sqlMigrationsProvider
      .create({ ...inputs, connection: { ...inputs.connection, password } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/password authentication failed/);
    expect(message).not.toContain(password);
    expect(message).not.toContain(encodeURIComponent(password));
  });

  it("connects as a user whose name and password hold URL-special characters", async () => {
    const url = await freshDatabase();
    const user = `mig user@${process.pid}:${Date.now()}/x`;
    const password = "p@ss:w/rd#?%&= ü";
    dropLater({ roles: [user] });
    await withClient(superuserUrl, async (c) => {
      await c.query(`CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
      await c.query(`GRANT CREATE ON DATABASE ${connectionOf(url).database} TO ${pg.escapeIdentifier(user)}`);
    });
    const inputs = sqlInputs(url, folder(BASE));
    await sqlMigrationsProvider.create({ ...inputs, connection: { ...inputs.connection, user, password } });
    expect(
      await rows(url, "SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = 'builds'"),
    ).toEqual([{ tableowner: user }]);
  });
});

describe("sqlMigrationsProvider.diff", () => {
  const dir = folder(BASE);
  const olds = {
    ...sqlInputs(superuserUrl, dir),
    applied: readSqlMigrations(dir).map(({ version, name, checksum }) => ({ version, name, checksum })),
  };
  const same = sqlInputs(superuserUrl, dir);
  const moreFiles = readSqlMigrations(folder({ ...BASE, "0003_logs.sql": "CREATE TABLE logs (id int);" }));
  const editedFiles = readSqlMigrations(folder({ ...BASE, "0002_seed.sql": "SELECT 1;" }));

  it.each<[string, boolean, SqlMigrationsInputs]>([
    ["nothing changed", false, same],
    ["only allowDataLoss changed", false, { ...same, allowDataLoss: ["0002_seed.sql"] }],
    ["a file was added", true, { ...same, migrations: moreFiles }],
    ["a file was edited", true, { ...same, migrations: editedFiles }],
    ["a file was removed", true, { ...same, migrations: same.migrations.slice(0, 1) }],
    ["the schema changed", true, { ...same, schema: "other" }],
    ["the host changed", true, { ...same, connection: { ...same.connection, host: "db.example.com" } }],
    ["the password changed", true, { ...same, connection: { ...same.connection, password: "rotated" } }],
    ["the SSL mode changed", true, { ...same, connection: { ...same.connection, sslMode: "require" } }],
  ])("%s → changes: %s", async (_label, changes, news) => {
    expect(await sqlMigrationsProvider.diff!("id", olds, news)).toEqual({
      changes,
      replaces: [],
      deleteBeforeReplace: false,
    });
  });
});

describe("pgClientSettings", () => {
  const connection: PostgresConnection = {
    host: "db.example.com",
    port: 6543,
    user: "admin",
    password: "pw",
    database: "platform",
    sslMode: "disable",
  };

  it.each<[SslMode, false | object]>([
    ["disable", false],
    ["require", { rejectUnauthorized: false }],
    ["verify-ca", { rejectUnauthorized: true, checkServerIdentity: expect.any(Function) }],
    ["verify-full", { rejectUnauthorized: true }],
  ])("sslMode %s → ssl %o", (sslMode, ssl) => {
    const settings = pgClientSettings({ ...connection, sslMode });
    expect(settings).toEqual({ connectionString: "postgres://admin:pw@db.example.com:6543/platform", ssl });
  });

  it("verify-ca checks the certificate chain but not the host name", () => {
    const { ssl } = pgClientSettings({ ...connection, sslMode: "verify-ca" });
    const { checkServerIdentity } = ssl as { checkServerIdentity: () => unknown };
    expect(checkServerIdentity()).toBeUndefined();
  });

  it("URL-encodes the user and password", () => {
    const { connectionString } = pgClientSettings({
      ...connection,
      user: "app@tenant",
      password: "p@ss:w/rd#?%",
    });
    expect(connectionString).toBe(
      "postgres://app%40tenant:p%40ss%3Aw%2Frd%23%3F%25@db.example.com:6543/platform",
    );
  });
});

interface D1Request {
  method: string;
  path: string;
  authorization: string | undefined;
  body: { sql: string; params?: unknown[] };
}

/** A stand-in for Cloudflare's D1 query API that remembers which migrations it recorded. */
const d1 = {
  requests: [] as D1Request[],
  applied: [] as string[],
  /** A statement the stand-in answers with a D1 error, as D1 answers a syntax error. */
  failOn: undefined as string | undefined,
};
let server: Server;
let baseUrl: string;

const ACCOUNT = "acc-1";
const DATABASE = "db-1";
const QUERY_PATH = `/client/v4/accounts/${ACCOUNT}/d1/database/${DATABASE}/query`;
const CREATE_HISTORY =
  "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)";
const SELECT_APPLIED = "SELECT name FROM d1_migrations ORDER BY id";
const RECORD = /INSERT INTO d1_migrations \(name\) VALUES \('((?:[^']|'')*)'\)/g;

const resultSet = (results: Record<string, unknown>[]) => ({ results, success: true, meta: { changes: 0 } });
const envelope = (result: unknown) => ({ success: true, errors: [], messages: [], result });

function answerD1(request: D1Request): { status: number; body: unknown } {
  if (request.method !== "POST" || request.path !== QUERY_PATH) {
    return {
      status: 404,
      body: { success: false, errors: [{ code: 7003, message: "Could not route" }], result: null },
    };
  }
  const { sql } = request.body;
  if (sql === CREATE_HISTORY) return { status: 200, body: envelope([resultSet([])]) };
  if (sql === SELECT_APPLIED)
    return { status: 200, body: envelope([resultSet(d1.applied.map((name) => ({ name })))]) };
  if (d1.failOn && sql.includes(d1.failOn)) {
    const error = { code: 7500, message: `near "${d1.failOn}": syntax error at offset 0: SQLITE_ERROR` };
    return { status: 400, body: { success: false, errors: [error], messages: [], result: null } };
  }
  // The body is one batch: its history rows are recorded only because no statement failed.
  for (const m of sql.matchAll(RECORD)) d1.applied.push(m[1]!.replace(/''/g, "'"));
  return { status: 200, body: envelope(sql.split(";\n").map(() => resultSet([]))) };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const request: D1Request = {
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
        body: text ? JSON.parse(text) : { sql: "" },
      };
      d1.requests.push(request);
      const { status, body } = answerD1(request);
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

const D1_FILES = {
  "0001_notes.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n",
  "0002_seed.sql": "INSERT INTO notes (body) VALUES ('it''s here');\n",
};

function d1Inputs(dir: string, extra: Partial<D1MigrationsInputs> = {}): D1MigrationsInputs {
  return {
    accountId: ACCOUNT,
    databaseId: DATABASE,
    migrations: readD1Migrations(dir),
    allowDataLoss: [],
    apiToken: "input-token",
    ...extra,
  };
}

const fileBody = (sql: string, name: string) => ({
  sql: `${sql.trim().replace(/;$/, "")};\nINSERT INTO d1_migrations (name) VALUES ('${name}')`,
});

describe("d1MigrationsProvider against a stand-in D1 query API", () => {
  beforeEach(() => {
    d1.requests.length = 0;
    d1.applied.length = 0;
    d1.failOn = undefined;
    vi.stubEnv("CLOUDFLARE_API_BASE_URL", baseUrl);
    vi.stubEnv("CLOUDFLARE_API_TOKEN", undefined);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("create sends the history table, the applied-names query, then one batch per file with its history row", async () => {
    const inputs = d1Inputs(folder(D1_FILES));
    const { id, outs } = await d1MigrationsProvider.create(inputs);
    expect(d1.requests.map((r) => [r.method, r.path, r.body])).toEqual([
      ["POST", QUERY_PATH, { sql: CREATE_HISTORY }],
      ["POST", QUERY_PATH, { sql: SELECT_APPLIED }],
      ["POST", QUERY_PATH, fileBody(D1_FILES["0001_notes.sql"], "0001_notes.sql")],
      ["POST", QUERY_PATH, fileBody(D1_FILES["0002_seed.sql"], "0002_seed.sql")],
    ]);
    expect(d1.requests.map((r) => r.authorization)).toEqual(Array(4).fill("Bearer input-token"));
    expect(id).toBe(`${DATABASE}-migrations`);
    expect(outs).toEqual({ ...inputs, applied: Object.keys(D1_FILES) });
  });

  it("update sends only the file added since the last run", async () => {
    const dir = folder(D1_FILES);
    const { id, outs: olds } = await d1MigrationsProvider.create(d1Inputs(dir));
    d1.requests.length = 0;
    folder({ "0003_tags.sql": "ALTER TABLE notes ADD COLUMN tags TEXT;" }, dir);
    const { outs } = await d1MigrationsProvider.update!(id, olds, d1Inputs(dir));
    expect(d1.requests.map((r) => r.body)).toEqual([
      { sql: CREATE_HISTORY },
      { sql: SELECT_APPLIED },
      fileBody("ALTER TABLE notes ADD COLUMN tags TEXT;", "0003_tags.sql"),
    ]);
    expect(outs.applied).toEqual([...Object.keys(D1_FILES), "0003_tags.sql"]);
    expect(d1.applied).toEqual([...Object.keys(D1_FILES), "0003_tags.sql"]);
  });

  it("takes the token from CLOUDFLARE_API_TOKEN when the inputs have none, and prefers the inputs' token", async () => {
    vi.stubEnv("CLOUDFLARE_API_TOKEN", "env-token");
    const dir = folder(D1_FILES);
    await d1MigrationsProvider.create(d1Inputs(dir, { apiToken: undefined }));
    expect(new Set(d1.requests.map((r) => r.authorization))).toEqual(new Set(["Bearer env-token"]));
    d1.requests.length = 0;
    await d1MigrationsProvider.create(d1Inputs(dir));
    expect(new Set(d1.requests.map((r) => r.authorization))).toEqual(new Set(["Bearer input-token"]));
  });

  it("without any token rejects, saying to set CLOUDFLARE_API_TOKEN, and sends nothing", async () => {
    await expect(
      d1MigrationsProvider.create(d1Inputs(folder(D1_FILES), { apiToken: undefined })),
    ).rejects.toThrow(
      `applying D1 migrations to database ${DATABASE} needs a Cloudflare API token: set CLOUDFLARE_API_TOKEN`,
    );
    expect(d1.requests).toEqual([]);
  });

  it("a D1 error rejects naming the file, and later files are not sent", async () => {
    d1.failOn = "SELEC";
    const inputs = d1Inputs(
      folder({
        ...D1_FILES,
        "0002_broken.sql": "SELEC 1;",
        "0003_never.sql": "CREATE TABLE never (id INTEGER);",
      }),
    );
    const error = await d1MigrationsProvider.create(inputs).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toMatch(
      /^D1 migration 0002_broken\.sql failed: .*\[7500\] near "SELEC": syntax error.*; it was rolled back and later files did not run$/,
    );
    expect(d1.requests.map((r) => r.body.sql).filter((sql) => sql.includes("never"))).toEqual([]);
    expect(d1.applied).toEqual(["0001_notes.sql"]);
  });

  it("refuses an unlisted data-loss file before sending any migration", async () => {
    const inputs = d1Inputs(folder({ ...D1_FILES, "0003_drop.sql": "DROP TABLE notes;" }));
    await expect(d1MigrationsProvider.create(inputs)).rejects.toThrow(
      'D1 migrations refused: 0003_drop.sql destroys data (DROP TABLE notes): list "0003_drop.sql" in allowDataLoss to apply it',
    );
    expect(d1.requests.map((r) => r.body.sql)).toEqual([CREATE_HISTORY, SELECT_APPLIED]);
  });
});

describe("d1MigrationsProvider.diff", () => {
  const dir = folder(D1_FILES);
  const olds = { ...d1Inputs(dir), applied: Object.keys(D1_FILES) };
  const same = d1Inputs(dir);

  it.each<[string, boolean, D1MigrationsInputs]>([
    ["nothing changed", false, same],
    ["only the token changed", false, { ...same, apiToken: "rotated" }],
    ["the database changed", true, { ...same, databaseId: "db-2" }],
    ["a file was added", true, d1Inputs(folder({ ...D1_FILES, "0003_x.sql": "SELECT 1;" }))],
    ["a file was edited", true, d1Inputs(folder({ ...D1_FILES, "0002_seed.sql": "SELECT 2;" }))],
  ])("%s → changes: %s", async (_label, changes, news) => {
    expect(await d1MigrationsProvider.diff!("id", olds, news)).toEqual({
      changes,
      replaces: [],
      deleteBeforeReplace: false,
    });
  });
});

/** Serializes a provider as Pulumi ships it to the engine, and loads the result back as the provider host would. */
async function ship(
  factory: () => pulumi.dynamic.ResourceProvider,
): Promise<{ text: string; provider: pulumi.dynamic.ResourceProvider }> {
  const { text, exportName } = await pulumi.runtime.serializeFunction(factory);
  const mod = { exports: {} as Record<string, () => pulumi.dynamic.ResourceProvider> };
  new Function("module", "exports", "require", text)(mod, mod.exports, createRequire(__filename));
  return { text, provider: mod.exports[exportName]!() };
}

describe("serialization for the engine", () => {
  beforeEach(() => {
    d1.requests.length = 0;
    d1.applied.length = 0;
    d1.failOn = undefined;
    vi.stubEnv("CLOUDFLARE_API_BASE_URL", baseUrl);
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("each provider ships the bundled runtime as a string and nothing of the bundler", async () => {
    const source = migrationRuntimeSource();
    for (const provider of [sqlMigrationsProvider, d1MigrationsProvider]) {
      const { text } = await ship(() => provider);
      expect(text).toContain(`RUNTIME_SOURCE: ${JSON.stringify(source)}`);
      expect(text).not.toMatch(/esbuild|buildSync|bundleRuntime|migrationRuntimeSource|not bundled yet/);
    }
  });

  it("the SQL provider serializes with its runtime and the shipped copy applies migrations", async () => {
    const { text, provider } = await ship(() => sqlMigrationsProvider);
    expect(text).toContain("applySqlMigrations");
    const url = await freshDatabase();
    await provider.create(sqlInputs(url, folder(BASE)));
    expect(await history(url)).toEqual(Object.keys(BASE));
  });

  it("the D1 provider serializes with its runtime and the shipped copy applies migrations", async () => {
    const { text, provider } = await ship(() => d1MigrationsProvider);
    expect(text).toContain("applyD1Migrations");
    const { outs } = await provider.create(d1Inputs(folder(D1_FILES)));
    expect(outs.applied).toEqual(Object.keys(D1_FILES));
    expect(d1.applied).toEqual(Object.keys(D1_FILES));
  });
});

describe("the runtime is bundled on first use, not at import", () => {
  afterEach(() => {
    vi.doUnmock("esbuild");
    vi.resetModules();
    vi.unstubAllEnvs();
  });

  /** A fresh copy of the module, with esbuild's builds counted and an empty bundle cache. */
  async function freshModule() {
    vi.stubEnv("WORKERS_PLATFORM_CACHE_DIR", folder({}));
    const builds = { count: 0 };
    vi.doMock("esbuild", async (importOriginal) => {
      const actual = await importOriginal<typeof import("esbuild")>();
      const count =
        <F extends (...args: never[]) => unknown>(f: F) =>
        (...args: Parameters<F>) => {
          builds.count += 1;
          return f(...args) as ReturnType<F>;
        };
      return { ...actual, build: count(actual.build), buildSync: count(actual.buildSync) };
    });
    vi.resetModules();
    const module = await import("./migration-providers");
    return { module, builds };
  }

  it("importing the module bundles nothing; the first use bundles once, later ones reuse it", async () => {
    const { module, builds } = await freshModule();
    expect(builds.count).toBe(0);
    const source = module.migrationRuntimeSource();
    expect(builds.count).toBe(1);
    expect(source).toContain("applySqlMigrations");
    expect(module.migrationRuntimeSource()).toBe(source);
    expect(builds.count).toBe(1);
  });

  it("a provider called before the runtime is bundled says so", async () => {
    const { module } = await freshModule();
    await expect(module.sqlMigrationsProvider.check!({}, {})).rejects.toThrow(
      "the migration runtime is not bundled yet: create a migrations resource or call migrationRuntimeSource() first",
    );
  });

  it("a migrations resource bundles it before its provider is shipped: the same text as when bundled up front", async () => {
    const { module, builds } = await freshModule();
    const d1 = { accountId: "acc", databaseId: "db", apiToken: "t", migrations: [], allowDataLoss: [] };
    const resources = await capture(() => new module.D1Migrations("lazy-d1", d1));
    expect(builds.count).toBe(1);
    const shipped = find(resources, module.D1_MIGRATIONS_TYPE, "lazy-d1").inputs.__provider;
    // This file's copy of the module had its runtime bundled before anything was serialized.
    const provider = d1MigrationsProvider;
    expect(shipped).toBe(
      (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text,
    );
  });
});
