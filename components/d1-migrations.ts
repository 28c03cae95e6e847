import { splitSqlStatements } from "./sql-analysis";
import { dataLossProblem, readSqlFolder, SqlMigrationError } from "./sql-migrations";

/** One D1 migration file, named as wrangler names them (`0001_init.sql`). */
export interface D1Migration {
  /** The file name, which is what wrangler's history table records. */
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file with CRLF normalised to LF; D1's history has no column for it. */
  checksum: string;
}

/**
 * Runs SQL against one D1 database: at deploy through Cloudflare's D1 query API, locally through a D1
 * binding (`d1BindingExecutor`).
 */
export interface D1Executor {
  /**
   * Runs one or more `;`-separated statements as one batch: all of them take effect or none does. Returns
   * the rows of the last statement.
   */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

const numberOf = (name: string) => Number.parseInt(name.split("_")[0] ?? "", 10);

/**
 * Reads a D1 migrations folder by wrangler's convention: every `.sql` file, ordered by the number before
 * the first `_` (then by name), so `2_b.sql` runs before `10_c.sql`.
 */
export function readD1Migrations(dir: string): D1Migration[] {
  return readSqlFolder(dir).sort((a, b) => {
    const [x, y] = [numberOf(a.name), numberOf(b.name)];
    if (x !== y && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Options of `applyD1Migrations`. */
export interface ApplyD1MigrationsOptions {
  /** History table, wrangler's `migrations_table`. @default "d1_migrations" */
  table?: string;
  /** Names of files allowed to destroy data (DROP TABLE, DELETE without WHERE, ...). @default [] */
  allowDataLoss?: string[];
  log?: (line: string) => void;
}

const sqlString = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * Applies the pending D1 migrations with wrangler's bookkeeping, so that `wrangler d1 migrations list`
 * and this agree on what has run. Each file and its history row go in one executor call: Cloudflare's D1
 * query API runs a multi-statement body as one batch, as `d1BindingExecutor` does locally, so a failing
 * file leaves no trace and stops the run. Refuses, before anything runs, a history that names files
 * missing from the folder and a data-loss file not listed in `allowDataLoss`.
 */
export async function applyD1Migrations(
  executor: D1Executor,
  migrations: D1Migration[],
  opts: ApplyD1MigrationsOptions = {},
): Promise<{ applied: string[] }> {
  const table = opts.table ?? "d1_migrations";
  const log = opts.log ?? (() => {});
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
    throw new SqlMigrationError(
      `D1 migrations table "${table}" must be a plain identifier (letters, digits, _)`,
    );
  }
  await executor.query(
    `CREATE TABLE IF NOT EXISTS ${table}(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)`,
  );
  const done = new Set(
    (await executor.query(`SELECT name FROM ${table} ORDER BY id`)).map((r) => String(r.name)),
  );
  const inFolder = new Set(migrations.map((m) => m.name));
  const missing = [...done].filter((name) => !inFolder.has(name));
  const problems: string[] = [];
  if (missing.length > 0) {
    problems.push(
      `${missing.join(", ")} applied (in ${table}) but missing from the migrations folder: restore them; a history that lost files means this folder is not the one the database was migrated from`,
    );
  }
  const pending = migrations.filter((m) => !done.has(m.name));
  for (const m of pending) {
    const loss = dataLossProblem(m.name, m.sql, opts.allowDataLoss ?? []);
    if (loss) problems.push(loss);
  }
  if (problems.length > 0) throw SqlMigrationError.of("D1 migrations refused", problems);

  const applied: string[] = [];
  for (const m of pending) {
    // The name is inlined as wrangler does, because how the query API binds parameters across a
    // multi-statement body is not documented.
    const record = `INSERT INTO ${table} (name) VALUES (${sqlString(m.name)})`;
    try {
      await executor.query([...splitSqlStatements(m.sql), record].join(";\n"));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new SqlMigrationError(
        `D1 migration ${m.name} failed: ${message}; it was rolled back and later files did not run`,
        { cause: err },
      );
    }
    log(`applied ${m.name}`);
    applied.push(m.name);
  }
  return { applied };
}

/** The parts of a D1 prepared statement `d1BindingExecutor` uses. */
export interface D1StatementLike {
  bind(...values: unknown[]): D1StatementLike;
}

/** The parts of a Workers `D1Database` binding (or Miniflare's proxy of one) `d1BindingExecutor` uses. */
export interface D1BindingLike {
  prepare(sql: string): D1StatementLike;
  batch(statements: D1StatementLike[]): Promise<{ results?: unknown[] }[]>;
}

/**
 * An executor over a D1 binding. The SQL is split into statements run with `batch`, which is atomic,
 * like the query API's handling of a multi-statement body (`exec` is neither atomic nor returns rows).
 * Parameters are bound only to a single statement.
 */
export function d1BindingExecutor(db: D1BindingLike): D1Executor {
  return {
    async query(sql, params = []) {
      const statements = splitSqlStatements(sql);
      if (statements.length === 0) return [];
      if (params.length > 0 && statements.length > 1) {
        throw new Error(`D1 query: ${params.length} parameter(s) given for ${statements.length} statements`);
      }
      const prepared = statements.map((s) =>
        params.length > 0 ? db.prepare(s).bind(...params) : db.prepare(s),
      );
      const results = await db.batch(prepared);
      return (results.at(-1)?.results ?? []) as Record<string, unknown>[];
    },
  };
}
