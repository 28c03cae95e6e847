/**
 * A small SQL reader for migration files: splits a file into statements (quotes, dollar-quoted bodies and
 * compound CREATE FUNCTION/TRIGGER bodies respected) and finds the statements that destroy data (DROP
 * TABLE/SCHEMA/COLUMN, TRUNCATE, DELETE without WHERE, also inside DO blocks). It tokenizes; it does not
 * parse, so it errs on the side of naming a statement.
 */

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
