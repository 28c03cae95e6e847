import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";

// Runs inside a Pulumi dynamic provider, which serializes what it calls: import only `pg` and node built-ins.

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
  const client = new pg.Client({ connectionString: opts.connectionString, ssl: opts.ssl });
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

interface Token {
  kind: "word" | "quoted" | "string" | "param" | "punct";
  text: string;
  start: number;
  end: number;
  /** Contents of a dollar-quoted string, which may be code (`DO $$ ... $$`). */
  body?: string;
}

// One token per match: 1 whitespace or line comment, 2 string, 3 quoted identifier, 4 dollar-quote tag,
// 5 parameter, 6 word, 7 start of a block comment; anything else is one punctuation character.
const TOKEN =
  /(\s+|--[^\n]*)|([eE]'(?:[^'\\]|\\[\s\S]|'')*'?|'(?:[^']|'')*'?)|("(?:[^"]|"")*"?|`(?:[^`]|``)*`?)|(\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)|(\$[A-Za-z0-9_]+|\?\d*)|([\p{L}\p{N}_][\p{L}\p{N}_$]*)|(\/\*)|[\s\S]/uy;

/** Splits SQL (PostgreSQL or SQLite) into tokens, dropping whitespace and comments. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < sql.length; ) {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(sql)!;
    let end = i + m[0].length;
    let body: string | undefined;
    if (m[7]) {
      // PostgreSQL nests block comments.
      for (let depth = 1; depth > 0 && end < sql.length; ) {
        const pair = sql.slice(end, end + 2);
        depth += pair === "/*" ? 1 : pair === "*/" ? -1 : 0;
        end += pair === "/*" || pair === "*/" ? 2 : 1;
      }
    } else if (m[4]) {
      const close = sql.indexOf(m[4], end);
      body = sql.slice(end, close < 0 ? sql.length : close);
      end = close < 0 ? sql.length : close + m[4].length;
    }
    const kind = m[2] || m[4] ? "string" : m[3] ? "quoted" : m[5] ? "param" : m[6] ? "word" : "punct";
    if (!m[1] && !m[7]) tokens.push({ kind, text: sql.slice(i, end), start: i, end, body });
    i = end;
  }
  return tokens;
}

// Bodies of these run later, not at migration time, and may hold `;` between BEGIN and END.
const COMPOUND_HEAD = /^CREATE (OR REPLACE )?((TEMP|TEMPORARY|CONSTRAINT) )?(TRIGGER|FUNCTION|PROCEDURE)$/;

function splitTokens(tokens: Token[]): Token[][] {
  const statements: Token[][] = [];
  let current: Token[] = [];
  let compound = false;
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "punct" && t.text === ";" && depth === 0) {
      if (current.length > 0) statements.push(current);
      current = [];
      compound = false;
      continue;
    }
    current.push(t);
    if (!compound && current.length <= 5) {
      compound = COMPOUND_HEAD.test(current.map((x) => x.text.toUpperCase()).join(" "));
    }
    const w = t.kind === "word" ? t.text.toUpperCase() : "";
    if (compound && (w === "BEGIN" || w === "CASE")) depth++;
    else if (compound && w === "END" && depth > 0) depth--;
  }
  if (current.length > 0) statements.push(current);
  return statements;
}

/**
 * Splits SQL into its statements, without comments or the separating `;`. `BEGIN ... END` bodies of
 * CREATE TRIGGER / FUNCTION / PROCEDURE stay whole.
 */
export function splitSqlStatements(sql: string): string[] {
  return splitTokens(tokenize(sql)).map((ts) => sql.slice(ts[0]?.start ?? 0, ts.at(-1)?.end ?? 0));
}

const kw = (ts: Token[], i: number) => (ts[i]?.kind === "word" ? (ts[i]?.text.toUpperCase() ?? "") : "");
const isPunct = (ts: Token[], i: number, p: string) => ts[i]?.kind === "punct" && ts[i]?.text === p;

/** Reads a possibly qualified name at `i`; returns it as written and the index after it. */
function readName(ts: Token[], i: number): [string, number] {
  const parts: string[] = [];
  while (ts[i]?.kind === "word" || ts[i]?.kind === "quoted") {
    parts.push(ts[i]?.text ?? "");
    if (!isPunct(ts, i + 1, ".")) return [parts.join("."), i + 1];
    i += 2;
  }
  return [parts.join("."), i];
}

function skipWords(ts: Token[], i: number, ...words: string[][]): number {
  for (const seq of words) if (seq.every((w, k) => kw(ts, i + k) === w)) i += seq.length;
  return i;
}

/** The names of a comma-separated list at `i` (DROP TABLE a, b / TRUNCATE a, b). */
function nameList(ts: Token[], i: number): string[] {
  const names: string[] = [];
  i = skipWords(ts, i, ["IF", "EXISTS"], ["ONLY"]);
  for (;;) {
    const [name, next] = readName(ts, i);
    if (name) names.push(name);
    i = isPunct(ts, next, "*") ? next + 1 : next;
    if (!isPunct(ts, i, ",") || !name) return names;
    i = skipWords(ts, i + 1, ["ONLY"]);
  }
}

/** Parenthesis depth at each token; a `)` counts as outside the group it closes. */
function depths(ts: Token[]): number[] {
  let depth = 0;
  return ts.map((t) => {
    if (t.kind === "punct" && t.text === ")") depth--;
    const at = depth;
    if (t.kind === "punct" && t.text === "(") depth++;
    return at;
  });
}

function droppedColumns(ts: Token[]): string[] {
  const [table, after] = readName(ts, skipWords(ts, 2, ["IF", "EXISTS"], ["ONLY"]));
  const depth = depths(ts);
  const hits: string[] = [];
  let actionStart = after;
  for (let i = after; i <= ts.length; i++) {
    if (i < ts.length && !(isPunct(ts, i, ",") && depth[i] === 0)) continue;
    const action = ts.slice(actionStart, i);
    actionStart = i + 1;
    if (kw(action, 0) !== "DROP" || kw(action, 1) === "CONSTRAINT") continue;
    const [column] = readName(action, skipWords(action, 1, ["COLUMN"], ["IF", "EXISTS"]));
    hits.push(`ALTER TABLE ${table} DROP COLUMN ${column}`);
  }
  return hits;
}

function deletesWithoutWhere(ts: Token[]): string[] {
  const depth = depths(ts);
  const hits: string[] = [];
  for (let i = 0; i < ts.length; i++) {
    if (kw(ts, i) !== "DELETE" || kw(ts, i + 1) !== "FROM") continue;
    const d = depth[i] ?? 0;
    const [table, after] = readName(ts, skipWords(ts, i + 2, ["ONLY"]));
    let hasWhere = false;
    for (let k = after; k < ts.length && (depth[k] ?? 0) >= d && !hasWhere; k++) {
      hasWhere = depth[k] === d && kw(ts, k) === "WHERE";
    }
    if (!hasWhere) hits.push(`DELETE FROM ${table} without WHERE`);
  }
  return hits;
}

/** Hits of a statement that starts with DROP, TRUNCATE or ALTER TABLE. */
function ddlDataLoss(ts: Token[]): string[] {
  const head = kw(ts, 0);
  const what = kw(ts, 1);
  if (head === "DROP" && (what === "TABLE" || what === "SCHEMA" || what === "DATABASE")) {
    return nameList(ts, 2).map((name) => `DROP ${what} ${name}`);
  }
  if (head === "TRUNCATE") return nameList(ts, what === "TABLE" ? 2 : 1).map((name) => `TRUNCATE ${name}`);
  if (head === "ALTER" && what === "TABLE") return droppedColumns(ts);
  return [];
}

/** A `DO` block's body is PL/pgSQL, where a statement may follow BEGIN, THEN or LOOP. */
function doBlockDataLoss(body: string): string[] {
  return splitTokens(tokenize(body)).flatMap((ts) => [
    ...ts.flatMap((_, i) =>
      ["DROP", "TRUNCATE", "ALTER"].includes(kw(ts, i)) ? ddlDataLoss(ts.slice(i)) : [],
    ),
    ...deletesWithoutWhere(ts),
  ]);
}

function statementDataLoss(ts: Token[]): string[] {
  if (kw(ts, 0) === "DO") return ts.flatMap((t) => (t.body === undefined ? [] : doBlockDataLoss(t.body)));
  // Trigger, function and rule bodies run later, on their own rows; they are not a migration's deletes.
  if (kw(ts, 0) === "CREATE") return [];
  return [...ddlDataLoss(ts), ...deletesWithoutWhere(ts)];
}

/**
 * Finds statements that destroy data: DROP TABLE / SCHEMA / DATABASE, ALTER TABLE ... DROP COLUMN,
 * TRUNCATE and DELETE without WHERE (also inside `DO` blocks). Comments and string literals are ignored;
 * changing a column's type is not flagged. Returns one short description per hit, e.g. `DROP TABLE builds`.
 */
export function findDataLossStatements(sql: string): string[] {
  return splitTokens(tokenize(sql)).flatMap(statementDataLoss);
}
