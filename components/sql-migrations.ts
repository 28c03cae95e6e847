import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type pg from "pg";
import { findDataLossStatements } from "./sql-analysis";

// Bundled into the dynamic providers' runtime (migration-providers.ts): import only `pg`, node built-ins
// and this package's own modules.

/** One numbered migration file, e.g. `0002_add_builds.sql`. */
export interface SqlMigration {
  /** The file's number: 2 for `0002_add_builds.sql`. */
  version: number;
  /** The file name. */
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file with CRLF normalised to LF, so a Windows checkout does not read as an edit. */
  checksum: string;
}

/** A row of the history table: a migration that has run. */
export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
}

/** What a run would apply, in order. */
export interface SqlMigrationPlan {
  pending: SqlMigration[];
}

/** A refused or failed migration run. `problems` lists every reason when several were found at once. */
export class SqlMigrationError extends Error {
  override readonly name = "SqlMigrationError";
  readonly problems: string[];

  constructor(message: string, options?: ErrorOptions & { problems?: string[] }) {
    super(message, options);
    this.problems = options?.problems ?? [message];
  }

  /** One error that lists every problem under a title. */
  static of(title: string, problems: string[]): SqlMigrationError {
    const body = problems.length === 1 ? ` ${problems[0]}` : `\n  - ${problems.join("\n  - ")}`;
    return new SqlMigrationError(`${title}:${body}`, { problems });
  }
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest();

/** Reads every `.sql` file of a folder, sorted by name, with its text and checksum. */
export function readSqlFolder(dir: string): { name: string; sql: string; checksum: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith(".sql"))
      .map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    throw new SqlMigrationError(`migrations folder ${dir} does not exist`, { cause: err });
  }
  return names.sort().map((name) => {
    // latin1 maps bytes one to one, so only CR LF pairs change, never a multi-byte character.
    const text = readFileSync(path.join(dir, name)).toString("latin1").replace(/\r\n/g, "\n");
    const bytes = Buffer.from(text, "latin1");
    return { name, sql: bytes.toString("utf8"), checksum: sha256(bytes).toString("hex") };
  });
}

const FILE_NAME = /^(\d{4,})_[a-z0-9_]+\.sql$/;
const MAX_VERSION = 2 ** 31 - 1;

/**
 * Reads the migrations of a folder: files named `NNNN_some_name.sql` (4+ digits, underscore, lowercase
 * name), sorted by number. Other `.sql` names and two files with one number are refused; files that do
 * not end in `.sql` are ignored.
 */
export function readSqlMigrations(dir: string): SqlMigration[] {
  const problems: string[] = [];
  const byVersion = new Map<number, SqlMigration>();
  for (const file of readSqlFolder(dir)) {
    const match = FILE_NAME.exec(file.name);
    if (!match) {
      problems.push(`${file.name} is not named NNNN_some_name.sql (4+ digits, underscore, lowercase name)`);
      continue;
    }
    const version = Number(match[1]);
    const clash = byVersion.get(version);
    if (version > MAX_VERSION) {
      problems.push(`${file.name}: version ${version} is above the maximum, ${MAX_VERSION}`);
    } else if (clash) {
      problems.push(`${file.name} and ${clash.name} share version ${version}: renumber one of them`);
    } else {
      byVersion.set(version, { version, ...file });
    }
  }
  if (problems.length > 0) throw SqlMigrationError.of(`SQL migrations in ${dir}`, problems);
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

/** The refusal for a pending file that destroys data without being listed in `allowDataLoss`, if any. */
export function dataLossProblem(name: string, sql: string, allowed: readonly string[]): string | undefined {
  const hits = findDataLossStatements(sql);
  if (hits.length === 0 || allowed.includes(name)) return undefined;
  return `${name} destroys data (${hits.join("; ")}): list "${name}" in allowDataLoss to apply it`;
}

const short = (checksum: string) => `${checksum.slice(0, 8)}…`;

/**
 * Plans a run: the files not yet applied, in order. Throws one `SqlMigrationError` listing every problem:
 * an applied file that was edited or is missing, a pending file older than the newest applied one, and a
 * pending file that destroys data without being listed in `allowDataLoss`.
 */
export function planSqlMigrations(
  files: SqlMigration[],
  applied: AppliedMigration[],
  opts: { allowDataLoss?: string[] } = {},
): SqlMigrationPlan {
  const problems: string[] = [];
  const byVersion = new Map(files.map((f) => [f.version, f]));
  if (byVersion.size !== files.length) problems.push("two migration files share a version number");
  let newest: AppliedMigration | undefined;
  for (const row of applied) {
    if (!newest || row.version > newest.version) newest = row;
    const file = byVersion.get(row.version);
    if (!file) {
      problems.push(`${row.name} was applied but is missing from the migrations folder: restore it`);
    } else if (file.checksum !== row.checksum) {
      problems.push(
        `${file.name} was edited after it was applied (checksum ${short(row.checksum)} ≠ ${short(file.checksum)}): add a new migration instead`,
      );
    }
  }
  const appliedVersions = new Set(applied.map((a) => a.version));
  const pending = files.filter((f) => !appliedVersions.has(f.version)).sort((a, b) => a.version - b.version);
  for (const file of pending) {
    if (newest && file.version < newest.version) {
      problems.push(
        `${file.name} is older than ${newest.name}, which is already applied: renumber it after ${newest.version}`,
      );
    }
    const loss = dataLossProblem(file.name, file.sql, opts.allowDataLoss ?? []);
    if (loss) problems.push(loss);
  }
  if (problems.length > 0) throw SqlMigrationError.of("SQL migrations refused", problems);
  return { pending };
}

/** How `applySqlMigrations` reaches the database and what it applies. */
export interface ApplySqlMigrationsOptions {
  connectionString: string;
  ssl?: pg.ClientConfig["ssl"];
  /** Schema that receives the tables (unqualified names in the files land here) and the history table. */
  schema: string;
  /** History table, inside `schema`. @default "schema_migrations" */
  table?: string;
  migrations: SqlMigration[];
  /** Names of files allowed to destroy data (DROP TABLE, TRUNCATE, ...). @default [] */
  allowDataLoss?: string[];
  log?: (line: string) => void;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Applies the pending migrations, each file in its own transaction together with its history row. Runs
 * against one database serialise on an advisory lock, and a run refused by `planSqlMigrations` applies
 * nothing. Files must not manage transactions themselves (no BEGIN/COMMIT, no CREATE INDEX CONCURRENTLY).
 */
export async function applySqlMigrations(
  opts: ApplySqlMigrationsOptions,
): Promise<{ applied: AppliedMigration[]; alreadyApplied: number }> {
  const table = opts.table ?? "schema_migrations";
  const log = opts.log ?? (() => {});
  const history = `${quoteIdent(opts.schema)}.${quoteIdent(table)}`;
  const lockKey = sha256(`${opts.schema}.${table}`).readBigInt64BE(0).toString();
  // Loaded on first use: evaluating a program reads migrations but applies none (synth, a warm start).
  const { Client } = require("pg") as typeof pg;
  const client = new Client({ connectionString: opts.connectionString, ssl: opts.ssl });
  // A dropped connection also rejects the pending query; without a listener it would crash the process.
  client.on("error", () => {});
  let locked = false;
  try {
    await client.connect();
    // Locked before the DDL: concurrent CREATE ... IF NOT EXISTS can still fail on a unique catalog index.
    await client.query("SELECT pg_advisory_lock($1::bigint)", [lockKey]);
    locked = true;
    const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [opts.schema]);
    // Checked first because CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists.
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${history} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL)`,
    );
    const { rows } = await client.query<AppliedMigration>(
      `SELECT version, name, checksum FROM ${history} ORDER BY version`,
    );
    const { pending } = planSqlMigrations(opts.migrations, rows, { allowDataLoss: opts.allowDataLoss });
    log(`${opts.schema}: ${rows.length} migration(s) already applied, ${pending.length} pending`);
    const applied: AppliedMigration[] = [];
    for (const m of pending) {
      const ms = await applyOne(client, m, opts.schema, history);
      log(`${opts.schema}: applied ${m.name} in ${ms} ms`);
      applied.push({ version: m.version, name: m.name, checksum: m.checksum });
    }
    return { applied, alreadyApplied: rows.length };
  } finally {
    if (locked) await client.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey]).catch(() => {});
    await client.end().catch(() => {});
  }
}

async function applyOne(client: pg.Client, m: SqlMigration, schema: string, history: string) {
  const started = performance.now();
  try {
    await client.query("BEGIN");
    // Files name tables without a schema; they land in the target schema, with extensions in public reachable.
    await client.query(`SET LOCAL search_path TO ${quoteIdent(schema)}, public`);
    await client.query(m.sql);
    const ms = Math.round(performance.now() - started);
    await client.query(
      `INSERT INTO ${history} (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)`,
      [m.version, m.name, m.checksum, ms],
    );
    await client.query("COMMIT");
    return ms;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    const e = err as { message?: string; position?: string; hint?: string };
    const line = e.position ? ` at line ${m.sql.slice(0, Number(e.position) - 1).split("\n").length}` : "";
    const hint = e.hint ? ` (hint: ${e.hint})` : "";
    throw new SqlMigrationError(
      `${m.name} failed${line}: ${e.message ?? String(err)}${hint}; it was rolled back and later files did not run`,
      { cause: err },
    );
  }
}
