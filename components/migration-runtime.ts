import { CloudflareApi, d1HttpExecutor } from "./cloudflare-api";
import { applyD1Migrations, type D1Migration } from "./d1-migrations";
import {
  applySqlMigrations,
  dataLossProblem,
  planSqlMigrations,
  type SqlMigration,
  SqlMigrationError,
} from "./sql-migrations";

/**
 * What the migration resources do inside the Pulumi engine's provider host. This module is bundled into
 * one CommonJS string that the dynamic providers carry (see migration-providers.ts), so it may import
 * only this project's files and packages the project depends on (`pg`, `zod`).
 */

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

export type Applied = { version: number; name: string; checksum: string };
export type SqlMigrationsOutputs = SqlMigrationsInputs & { applied: Applied[] };

export interface D1MigrationsInputs {
  accountId: string;
  databaseId: string;
  migrations: D1Migration[];
  allowDataLoss: string[];
  /** Token for the D1 query API; `CLOUDFLARE_API_TOKEN` of the deploying process when absent. */
  apiToken?: string;
}

export type D1MigrationsOutputs = D1MigrationsInputs & { applied: string[] };

/** `pg` client settings for a connection: URL plus the TLS behaviour its SSL mode asks for. */
export function pgClientSettings(c: PostgresConnection): { connectionString: string; ssl: false | object } {
  const auth = `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`;
  const host = c.host.includes(":") ? `[${c.host}]` : c.host;
  const connectionString = `postgres://${auth}@${host}:${c.port}/${encodeURIComponent(c.database)}`;
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

/**
 * Refusals at preview: an edited, out-of-order or unapproved data-loss file, against the last `up`. The
 * engine hands `check` the old inputs, not the old outputs: the migrations of the last successful update
 * are exactly what it applied.
 */
export function checkSql(olds: Partial<SqlMigrationsOutputs>, news: SqlMigrationsInputs) {
  const applied =
    olds.applied ??
    (olds.migrations ?? []).map(({ version, name, checksum }) => ({ version, name, checksum }));
  try {
    planSqlMigrations(news.migrations, applied, { allowDataLoss: news.allowDataLoss });
    return { inputs: news };
  } catch (err: unknown) {
    if (!(err instanceof SqlMigrationError)) throw err;
    return { inputs: news, failures: [{ property: "migrations", reason: err.message }] };
  }
}

export function diffSql(olds: SqlMigrationsOutputs, news: SqlMigrationsInputs) {
  const sameFiles =
    olds.applied.length === news.migrations.length &&
    olds.applied.every(
      (m, i) => m.name === news.migrations[i]?.name && m.checksum === news.migrations[i]?.checksum,
    );
  const connectionChanged = JSON.stringify(olds.connection) !== JSON.stringify(news.connection);
  return {
    changes: connectionChanged || olds.schema !== news.schema || !sameFiles,
    replaces: [],
    deleteBeforeReplace: false,
  };
}

export async function applySql(inputs: SqlMigrationsInputs): Promise<SqlMigrationsOutputs> {
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

/** Refuses at preview a new D1 migration that destroys data without being listed in `allowDataLoss`. */
export function checkD1(olds: Partial<D1MigrationsInputs>, news: D1MigrationsInputs) {
  const applied = new Set((olds.migrations ?? []).map((m) => m.name));
  const problems = news.migrations
    .filter((m) => !applied.has(m.name))
    .map((m) => dataLossProblem(m.name, m.sql, news.allowDataLoss))
    .filter((p): p is string => p !== undefined);
  return problems.length === 0
    ? { inputs: news }
    : { inputs: news, failures: problems.map((reason) => ({ property: "migrations", reason })) };
}

export function diffD1(olds: D1MigrationsOutputs, news: D1MigrationsInputs) {
  const files = (ms: D1Migration[]) => JSON.stringify(ms.map((m) => [m.name, m.checksum]));
  const changes = olds.databaseId !== news.databaseId || files(olds.migrations) !== files(news.migrations);
  return { changes, replaces: [], deleteBeforeReplace: false };
}

export async function applyD1(inputs: D1MigrationsInputs): Promise<D1MigrationsOutputs> {
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
