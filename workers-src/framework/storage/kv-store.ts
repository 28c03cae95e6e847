import { decode, encode } from "./codec";
import { sortableId } from "./id";
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
} from "./store";

/** KV refuses an expiry less than this many seconds away. */
export const KV_MIN_TTL_SECONDS = 60;

export interface KvStoreOptions {
  /**
   * Prepended to every key, so stores with different prefixes share one namespace without meeting.
   * @default ""
   */
  prefix?: string;
}

export interface KvPutOptions<M> extends PutOptions {
  /** Kept with the key (KV's limit: 1024 bytes of JSON, including the store's own few bytes). */
  metadata?: M;
}

export interface KvStore<T = unknown, M = unknown> extends Store<T> {
  put(key: string, value: T, options?: KvPutOptions<M>): Promise<void>;
  add(value: T, options?: KvPutOptions<M>): Promise<string>;
  getWithMetadata(key: string): Promise<{ value: T | undefined; metadata: M | undefined }>;
}

// KV's get does not return a key's expiry, so the store keeps it beside the user's metadata: `update`
// (and so every chained write) rewrites a key without dropping its expiry.
interface Envelope<M> {
  m?: M;
  /** Expiry, in seconds since the epoch (KV's unit). */
  x?: number;
}

/**
 * A {@link Store} over a Workers KV namespace. KV is eventually consistent across locations and allows one
 * write per second per key; `update` is a read then a write, so concurrent updates of a key lose all but
 * the last. `list` reads every listed value (one KV read per key); `keys` reads none.
 */
export function kvStore<T = unknown, M = unknown>(
  namespace: KVNamespace,
  options: KvStoreOptions = {},
): KvStore<T, M> {
  const prefix = options.prefix ?? "";

  async function write(key: string, value: T, envelope: Envelope<M>): Promise<void> {
    const hasMetadata = envelope.m !== undefined || envelope.x !== undefined;
    await namespace.put(prefix + key, encode(value), {
      ...(envelope.x !== undefined ? { expiration: envelope.x } : {}),
      ...(hasMetadata ? { metadata: envelope } : {}),
    });
  }

  async function readRaw(key: string) {
    checkKey(key);
    const { value, metadata } = await namespace.getWithMetadata<Envelope<M>>(prefix + key, "text");
    return { value: value === null ? undefined : decode<T>(value), envelope: metadata ?? {} };
  }

  async function listPage(options: ListOptions) {
    const page = await namespace.list({
      prefix: prefix + (options.prefix ?? ""),
      limit: checkLimit(options.limit),
      ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
    });
    const names = page.keys.map((key) => key.name.slice(prefix.length));
    return { names, cursor: page.list_complete ? undefined : page.cursor, complete: page.list_complete };
  }

  const store: KvStore<T, M> = {
    async get(key) {
      checkKey(key);
      const text = await namespace.get(prefix + key, "text");
      return text === null ? undefined : decode<T>(text);
    },
    async getWithMetadata(key) {
      const { value, envelope } = await readRaw(key);
      return { value, metadata: envelope.m };
    },
    async put(key, value, putOptions?: KvPutOptions<M>) {
      checkKey(key);
      const now = Date.now();
      const expiresAt = expiryOf(putOptions, now);
      if (expiresAt !== undefined && expiresAt - now < KV_MIN_TTL_SECONDS * 1000) {
        throw new RangeError(
          `kvStore: ${key} would expire in ${Math.round((expiresAt - now) / 1000)}s; KV needs at least ${KV_MIN_TTL_SECONDS}s`,
        );
      }
      await write(key, value, {
        ...(putOptions?.metadata !== undefined ? { m: putOptions.metadata } : {}),
        ...(expiresAt !== undefined ? { x: Math.ceil(expiresAt / 1000) } : {}),
      });
    },
    async add(value, putOptions) {
      const id = sortableId();
      await store.put(id, value, putOptions);
      return id;
    },
    async delete(key) {
      checkKey(key);
      await namespace.delete(prefix + key);
    },
    async update(key, fn) {
      const { value, envelope } = await readRaw(key);
      const next = fn(value);
      if (next === unchanged) return value;
      // A key in its last minute is kept for KV's minimum minute rather than refused.
      const x =
        envelope.x === undefined
          ? undefined
          : Math.max(envelope.x, Math.ceil(Date.now() / 1000) + KV_MIN_TTL_SECONDS);
      await write(key, next, { ...envelope, ...(x !== undefined ? { x } : {}) });
      return next;
    },
    async list(options = {}) {
      const { names, cursor, complete } = await listPage(options);
      const values = await Promise.all(names.map((name) => namespace.get(prefix + name, "text")));
      // A key deleted between the list and the read is left out rather than returned without a value.
      const entries: [string, T][] = [];
      names.forEach((name, i) => {
        const text = values[i];
        if (text !== null && text !== undefined) entries.push([name, decode<T>(text)]);
      });
      return page(entries, cursor, complete);
    },
    async keys(options = {}) {
      const { names, cursor, complete } = await listPage(options);
      return page(names, cursor, complete);
    },
    entries(options = {}) {
      return followCursors((cursor) => store.list({ ...options, cursor }));
    },
    allKeys(options = {}) {
      return followCursors((cursor) => store.keys({ ...options, cursor }));
    },
  };
  return store;
}

function page<E>(entries: E[], cursor: string | undefined, complete: boolean): ListPage<E> {
  return cursor === undefined ? { entries, complete } : { entries, cursor, complete };
}
