import { decode, encode } from "./codec.js";
import { sortableId } from "./id.js";
import {
  checkKey,
  checkLimit,
  expiryOf,
  followCursors,
  type ListOptions,
  type ListPage,
  type PutOptions,
  type Store,
  unchanged,
} from "./store.js";

/** The SQLite table every `durableStore` of a Durable Object shares; keys are namespaced by `prefix`. */
export const DURABLE_STORE_TABLE = "framework_store";

export interface DurableStoreOptions {
  /**
   * Prepended to every key, so stores with different prefixes share one object without meeting.
   * @default ""
   */
  prefix?: string;
  /**
   * The clock that decides what has expired, in milliseconds since the epoch.
   * @default Date.now
   */
  now?: () => number;
}

export interface DurableStore<T = unknown> extends Store<T> {
  /**
   * Deletes every expired key of the object (whatever its store's prefix) and sets the alarm to the next
   * expiry. Call it from the Durable Object's `alarm()`: the store owns the object's alarm. Resolves to the
   * number of keys removed.
   */
  alarm(): Promise<number>;
}

type Row = { key: string; value: string; expires_at: number | null };

/**
 * A {@link Store} over a SQLite-backed Durable Object's storage, with expiring keys. Keys live in one SQL
 * table with their expiry beside them: a read filters out what has expired, and the object's alarm, set to
 * the earliest expiry, deletes it.
 *
 * Every statement runs synchronously, so a read-modify-write ({@link Store.update}) has no `await` between
 * its read and its write: no other event of the object can run in between, and the output gate holds the
 * object's replies until the write is durable.
 */
export function durableStore<T = unknown>(
  storage: DurableObjectStorage,
  options: DurableStoreOptions = {},
): DurableStore<T> {
  const prefix = options.prefix ?? "";
  const now = options.now ?? Date.now;
  const sql = sqlOf(storage);
  sql.exec(
    `CREATE TABLE IF NOT EXISTS ${DURABLE_STORE_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID`,
  );
  sql.exec(
    `CREATE INDEX IF NOT EXISTS ${DURABLE_STORE_TABLE}_expiry ON ${DURABLE_STORE_TABLE} (expires_at) WHERE expires_at IS NOT NULL`,
  );

  const live = "(expires_at IS NULL OR expires_at > ?)";

  function read(key: string): Row | undefined {
    checkKey(key);
    return sql
      .exec<Row>(
        `SELECT key, value, expires_at FROM ${DURABLE_STORE_TABLE} WHERE key = ? AND ${live}`,
        prefix + key,
        now(),
      )
      .toArray()[0];
  }

  function write(key: string, value: T, expiresAt: number | null): void {
    sql.exec(
      `INSERT INTO ${DURABLE_STORE_TABLE} (key, value, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      prefix + key,
      encode(value),
      expiresAt,
    );
  }

  // Input gates keep other events out while the alarm is read and set, so two writes cannot both see an
  // alarm later than their own expiry and the later one win.
  async function armAlarm(expiresAt: number): Promise<void> {
    const current = await storage.getAlarm();
    if (current === null || current > expiresAt) await storage.setAlarm(expiresAt);
  }

  function page<E>(options: ListOptions, columns: string, toEntry: (row: Row) => E): ListPage<E> {
    const limit = checkLimit(options.limit);
    const from = prefix + (options.prefix ?? "");
    const conditions = ["key >= ?", live];
    const bindings: unknown[] = [from, now()];
    const end = prefixEnd(from);
    if (end !== undefined) {
      conditions.push("key < ?");
      bindings.push(end);
    }
    if (options.cursor !== undefined) {
      conditions.push("key > ?");
      bindings.push(prefix + options.cursor);
    }
    const rows = sql
      .exec<Row>(
        `SELECT ${columns} FROM ${DURABLE_STORE_TABLE} WHERE ${conditions.join(" AND ")} ORDER BY key LIMIT ?`,
        ...bindings,
        limit + 1,
      )
      .toArray();
    const complete = rows.length <= limit;
    const shown = rows.slice(0, limit);
    const entries = shown.map(toEntry);
    return complete
      ? { entries, complete }
      : { entries, cursor: shown.at(-1)!.key.slice(prefix.length), complete };
  }

  const store: DurableStore<T> = {
    async get(key) {
      const row = read(key);
      return row === undefined ? undefined : decode<T>(row.value);
    },
    async put(key, value, putOptions?: PutOptions) {
      checkKey(key);
      const expiresAt = expiryOf(putOptions, now());
      write(key, value, expiresAt ?? null);
      if (expiresAt !== undefined) await armAlarm(expiresAt);
    },
    async add(value, putOptions) {
      const id = sortableId();
      await store.put(id, value, putOptions);
      return id;
    },
    async delete(key) {
      checkKey(key);
      sql.exec(`DELETE FROM ${DURABLE_STORE_TABLE} WHERE key = ?`, prefix + key);
    },
    async update(key, fn) {
      const row = read(key);
      const current = row === undefined ? undefined : decode<T>(row.value);
      const next = fn(current);
      if (next === unchanged) return current;
      write(key, next, row?.expires_at ?? null);
      return next;
    },
    async list(options = {}) {
      return page(options, "key, value", (row) => [row.key.slice(prefix.length), decode<T>(row.value)]);
    },
    async keys(options = {}) {
      return page(options, "key", (row) => row.key.slice(prefix.length));
    },
    entries(options = {}) {
      return followCursors((cursor) => store.list({ ...options, cursor }));
    },
    allKeys(options = {}) {
      return followCursors((cursor) => store.keys({ ...options, cursor }));
    },
    async alarm() {
      const removed = sql
        .exec(`DELETE FROM ${DURABLE_STORE_TABLE} WHERE expires_at <= ? RETURNING key`, now())
        .toArray().length;
      const next = sql
        .exec<{ next: number | null }>(`SELECT MIN(expires_at) AS next FROM ${DURABLE_STORE_TABLE}`)
        .one().next;
      if (next !== null) await storage.setAlarm(next);
      return removed;
    },
  };
  return store;
}

function sqlOf(storage: DurableObjectStorage): SqlStorage {
  let sql: SqlStorage | undefined;
  try {
    sql = storage.sql;
  } catch {
    sql = undefined;
  }
  if (!sql) {
    throw new Error(
      "durableStore: this Durable Object has no SQL storage; declare its class in a `new_sqlite_classes` migration",
    );
  }
  return sql;
}

/**
 * The least string above every string that starts with `prefix`, in code point order (which is UTF-8 byte
 * order, SQLite's order for TEXT): the last code point below U+10FFFF, incremented, with what follows
 * dropped. `undefined` when there is no such bound (an empty prefix, or only U+10FFFF).
 */
export function prefixEnd(prefix: string): string | undefined {
  const points = Array.from(prefix, (char) => char.codePointAt(0)!);
  while (points.length > 0) {
    const last = points.pop()!;
    if (last < 0x10ffff) return String.fromCodePoint(...points, last === 0xd7ff ? 0xe000 : last + 1);
  }
  return undefined;
}
