import * as pulumi from "@pulumi/pulumi";
import { CloudflareApi, d1HttpExecutor } from "./cloudflare-api";
import { applyD1Migrations, type D1Migration } from "./d1-migrations";
import {
  applySqlMigrations,
  planSqlMigrations,
  type SqlMigration,
  SqlMigrationError,
} from "./sql-migrations";

/**
 * Dynamic providers that apply the project's migration cores at `pulumi up`. Pulumi serializes these
 * objects (and what they call) into the deployment, so they only capture module functions, never live
 * clients. Each has a type token of its own in the resource graph.
 */

const MODULE = "workers-platform";
export const SQL_MIGRATIONS_TYPE = `pulumi-nodejs:dynamic/${MODULE}:SqlMigrations`;
export const D1_MIGRATIONS_TYPE = `pulumi-nodejs:dynamic/${MODULE}:D1Migrations`;

export type SslMode = "disable" | "require" | "verify-ca" | "verify-full";

export interface PostgresConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslMode: SslMode;
}

export interface SqlMigrationsInputs {
  connection: PostgresConnection;
  schema: string;
  migrations: SqlMigration[];
  allowDataLoss: string[];
}

type Applied = { version: number; name: string; checksum: string };
type SqlMigrationsOutputs = SqlMigrationsInputs & { applied: Applied[] };

/** `pg` client settings for a connection: URL plus the TLS behaviour its SSL mode asks for. */
export function pgClientSettings(c: PostgresConnection): { connectionString: string; ssl: false | object } {
  const auth = `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`;
  const connectionString = `postgres://${auth}@${c.host}:${c.port}/${encodeURIComponent(c.database)}`;
  const ssl =
    c.sslMode === "disable"
      ? false
      : c.sslMode === "require"
        ? { rejectUnauthorized: false }
        : c.sslMode === "verify-ca"
          ? { rejectUnauthorized: true, checkServerIdentity: () => undefined }
          : { rejectUnauthorized: true };
  return { connectionString, ssl };
}

function sameMigrations(a: Applied[], b: SqlMigration[]): boolean {
  return a.length === b.length && a.every((m, i) => m.name === b[i]?.name && m.checksum === b[i]?.checksum);
}

async function applySql(inputs: SqlMigrationsInputs): Promise<SqlMigrationsOutputs> {
  const { connectionString, ssl } = pgClientSettings(inputs.connection);
  await applySqlMigrations({
    connectionString,
    ssl,
    schema: inputs.schema,
    migrations: inputs.migrations,
    allowDataLoss: inputs.allowDataLoss,
  });
  const applied = inputs.migrations.map(({ version, name, checksum }) => ({ version, name, checksum }));
  return { ...inputs, applied };
}

/**
 * Applies SQL migrations to PostgreSQL. `check` runs at preview: against what the last `up` applied it
 * refuses an edited file, an out-of-order file and a data-loss file without opt-in, before anything runs.
 * The database's own history table is checked again when the migrations are applied.
 */
export const sqlMigrationsProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: Partial<SqlMigrationsOutputs>, news: SqlMigrationsInputs) {
    try {
      planSqlMigrations(news.migrations, olds.applied ?? [], { allowDataLoss: news.allowDataLoss });
      return { inputs: news };
    } catch (err: unknown) {
      if (!(err instanceof SqlMigrationError)) throw err;
      return { inputs: news, failures: [{ property: "migrations", reason: err.message }] };
    }
  },
  async diff(_id: string, olds: SqlMigrationsOutputs, news: SqlMigrationsInputs) {
    const connectionChanged = JSON.stringify(olds.connection) !== JSON.stringify(news.connection);
    const changes =
      connectionChanged || olds.schema !== news.schema || !sameMigrations(olds.applied, news.migrations);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: SqlMigrationsInputs) {
    const outs = await applySql(inputs);
    return { id: `${inputs.connection.database}.${inputs.schema}`, outs };
  },
  async update(_id: string, _olds: SqlMigrationsOutputs, news: SqlMigrationsInputs) {
    return { outs: await applySql(news) };
  },
  // Tables hold the platform's data: forgetting the migrations resource must not drop them.
  async delete() {},
};

export interface D1MigrationsInputs {
  accountId: string;
  databaseId: string;
  migrations: D1Migration[];
  allowDataLoss: string[];
  /** Token for the D1 query API; `CLOUDFLARE_API_TOKEN` of the deploying process when absent. */
  apiToken?: string;
}

type D1MigrationsOutputs = D1MigrationsInputs & { applied: string[] };

async function applyD1(inputs: D1MigrationsInputs): Promise<D1MigrationsOutputs> {
  const apiToken = inputs.apiToken ?? process.env.CLOUDFLARE_API_TOKEN;
  if (!apiToken) {
    throw new Error(
      `applying D1 migrations to database ${inputs.databaseId} needs a Cloudflare API token: set CLOUDFLARE_API_TOKEN`,
    );
  }
  const api = new CloudflareApi({ apiToken, baseUrl: process.env.CLOUDFLARE_API_BASE_URL });
  await applyD1Migrations(d1HttpExecutor(api, inputs.accountId, inputs.databaseId), inputs.migrations, {
    allowDataLoss: inputs.allowDataLoss,
  });
  return { ...inputs, applied: inputs.migrations.map((m) => m.name) };
}

/** Applies D1 migrations through Cloudflare's D1 query API, recorded in wrangler's `d1_migrations` table. */
export const d1MigrationsProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: D1MigrationsOutputs, news: D1MigrationsInputs) {
    const changes =
      olds.databaseId !== news.databaseId ||
      JSON.stringify(olds.migrations.map((m) => [m.name, m.checksum])) !==
        JSON.stringify(news.migrations.map((m) => [m.name, m.checksum]));
    return { changes, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs: D1MigrationsInputs) {
    return { id: `${inputs.databaseId}-migrations`, outs: await applyD1(inputs) };
  },
  async update(_id: string, _olds: D1MigrationsOutputs, news: D1MigrationsInputs) {
    return { outs: await applyD1(news) };
  },
  async delete() {},
};

type InputsOf<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/** SQL migrations applied to a PostgreSQL database by the project's migration core. */
export class SqlMigrations extends pulumi.dynamic.Resource {
  constructor(name: string, inputs: InputsOf<SqlMigrationsInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      sqlMigrationsProvider,
      name,
      { ...inputs, connection: pulumi.secret(inputs.connection) },
      opts,
      MODULE,
      "SqlMigrations",
    );
  }
}

/** D1 migrations applied through the D1 query API. */
export class D1Migrations extends pulumi.dynamic.Resource {
  constructor(name: string, inputs: InputsOf<D1MigrationsInputs>, opts?: pulumi.CustomResourceOptions) {
    super(d1MigrationsProvider, name, inputs, opts, MODULE, "D1Migrations");
  }
}
