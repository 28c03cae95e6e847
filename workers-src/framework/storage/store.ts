/** Options of a write. At most one of `expireAt` and `ttlSeconds`; without either the key never expires. */
export interface PutOptions {
  /** When the key expires: a Date or milliseconds since the epoch. */
  expireAt?: Date | number;
  /** Seconds from now until the key expires. */
  ttlSeconds?: number;
}

export interface ListOptions {
  /** Only keys that start with this (after the store's own prefix). */
  prefix?: string;
  /**
   * The most entries in one page, 1 to 1000.
   * @default 1000
   */
  limit?: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
}

export interface ListPage<E> {
  /** In key order (UTF-8 byte order, the same on both backends). */
  entries: E[];
  /** Pass to the next call to continue; absent once `complete`. Opaque. */
  cursor?: string;
  complete: boolean;
}

/** Returned by an {@link Store.update} callback to leave the key as it is, without a write. */
export const unchanged: unique symbol = Symbol("unchanged");

/**
 * One typed API over Workers KV ({@link kvStore}) and Durable Object storage ({@link durableStore}).
 * Values go through the codec, so anything it encodes round-trips; keys are non-empty strings.
 */
export interface Store<T = unknown> {
  /** The value under `key`, or `undefined` when there is none (or it expired). */
  get(key: string): Promise<T | undefined>;
  put(key: string, value: T, options?: PutOptions): Promise<void>;
  /** Stores `value` under a new time-ordered 26-character id, and returns the id. */
  add(value: T, options?: PutOptions): Promise<string>;
  delete(key: string): Promise<void>;
  /**
   * Reads the value, passes it to `fn` and writes what `fn` returns (unless {@link unchanged}), keeping the
   * key's expiry. Atomic in a Durable Object; last writer wins on KV. Resolves to the value now stored.
   */
  update(key: string, fn: (current: T | undefined) => T | typeof unchanged): Promise<T | undefined>;
  /** One page of entries. */
  list(options?: ListOptions): Promise<ListPage<[key: string, value: T]>>;
  /** One page of keys only: on KV, no value is read. */
  keys(options?: ListOptions): Promise<ListPage<string>>;
  /** Every entry under `prefix`, page after page (`limit` is the page size). */
  entries(options?: Omit<ListOptions, "cursor">): AsyncIterableIterator<[key: string, value: T]>;
  /** Every key under `prefix`, page after page (`limit` is the page size); on KV, no value is read. */
  allKeys(options?: Omit<ListOptions, "cursor">): AsyncIterableIterator<string>;
}

export const MAX_LIST_LIMIT = 1000;

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0) {
    throw new TypeError(`store: a key must be a non-empty string (got ${JSON.stringify(key)})`);
  }
}

export function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return MAX_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new RangeError(`store: list limit must be an integer from 1 to ${MAX_LIST_LIMIT} (got ${limit})`);
  }
  return limit;
}

/** When a write with `options` expires, in milliseconds since the epoch, or `undefined` for never. */
export function expiryOf(options: PutOptions | undefined, now: number): number | undefined {
  const { expireAt, ttlSeconds } = options ?? {};
  if (expireAt !== undefined && ttlSeconds !== undefined) {
    throw new TypeError("store: give either expireAt or ttlSeconds, not both");
  }
  if (ttlSeconds !== undefined) {
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(`store: ttlSeconds must be a positive number of seconds (got ${ttlSeconds})`);
    }
    return now + ttlSeconds * 1000;
  }
  if (expireAt === undefined) return undefined;
  const at = expireAt instanceof Date ? expireAt.getTime() : expireAt;
  if (!Number.isFinite(at))
    throw new RangeError(`store: expireAt must be a valid time (got ${String(expireAt)})`);
  return at;
}

export async function* followCursors<E>(
  page: (cursor: string | undefined) => Promise<ListPage<E>>,
): AsyncIterableIterator<E> {
  let cursor: string | undefined;
  do {
    const result = await page(cursor);
    yield* result.entries;
    cursor = result.complete ? undefined : result.cursor;
  } while (cursor !== undefined);
}
