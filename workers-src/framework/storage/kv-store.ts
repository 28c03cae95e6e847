import { decode, encode } from "./codec.js";
import { sortableId } from "./id.js";
import type { KvEnvelope, KvWriter, WriteOp, WriteResult, WrittenState } from "./kv-writer.js";
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

/** KV refuses an expiry less than this many seconds away. */
export const KV_MIN_TTL_SECONDS = 60;
/** KV's limits on a key's name and on its metadata (as JSON). */
export const KV_MAX_KEY_BYTES = 512;
export const KV_MAX_METADATA_BYTES = 1024;

export interface KvStoreOptions {
  /**
   * Prepended to every key, so stores with different prefixes share one namespace without meeting.
   * @default ""
   */
  prefix?: string;
  /**
   * The writer objects that serialise this namespace's writes, one per key (`KvWriter`, bound as
   * `KV_WRITER` by the app's declaration), and the binding name of the namespace in the Worker's env.
   * Without it writes are last-write-wins: a chained write or `update` is a read then a write, and
   * concurrent ones lose all but the last.
   */
  writer?: { namespace: DurableObjectNamespace<KvWriter>; binding: string };
}

/** `update` options of a KV store. */
export interface KvUpdateOptions {
  /**
   * Write only if the key is still at this version (`getWithVersion`), else throw
   * {@link VersionConflictError}. Atomic with a writer; on a last-write-wins store a check just before
   * the write, which a concurrent writer can still slip past.
   */
  ifVersion?: number;
}

/** An `update` refused because the key moved on from the version the caller read. */
export class VersionConflictError extends Error {
  override name = "VersionConflictError";
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly current: number,
  ) {
    super(`${key} is at version ${current}, not ${expected}: read it again and retry`);
  }
}

export interface KvPutOptions<M> extends PutOptions {
  /** Kept with the key (KV's limit: 1024 bytes of JSON, including the store's own few bytes). */
  metadata?: M;
}

export interface KvStore<T = unknown, M = unknown> extends Store<T> {
  /**
   * `"serialized"`: every write goes through the key's writer object, in arrival order, none lost.
   * `"last-write-wins"`: concurrent read-modify-writes (`update`, chained writes) overwrite each other.
   */
  readonly writes: "serialized" | "last-write-wins";
  put(key: string, value: T, options?: KvPutOptions<M>): Promise<void>;
  add(value: T, options?: KvPutOptions<M>): Promise<string>;
  update(
    key: string,
    fn: (current: T | undefined) => T | typeof unchanged,
    options?: KvUpdateOptions,
  ): Promise<T | undefined>;
  getWithMetadata(key: string): Promise<{ value: T | undefined; metadata: M | undefined }>;
  /**
   * The value and the version the framework keeps of it (0 before the first write). `consistent` reads
   * through the key's writer (one call to its object): the last acknowledged write, where KV may still
   * hold the one before for about a second (and, in other locations, for up to KV's cache time).
   */
  getWithVersion(
    key: string,
    options?: { consistent?: boolean },
  ): Promise<{ value: T | undefined; version: number }>;
  /** The last acknowledged value, read through the key's writer; the same as `get` without a writer. */
  getConsistent(key: string): Promise<T | undefined>;
}

// KV's get does not return a key's expiry, so the store keeps it beside the user's metadata: `update`
// (and so every chained write) rewrites a key without dropping its expiry. `v` is the key's version.
type Envelope<M> = Omit<KvEnvelope, "m"> & { m?: M };

/**
 * A {@link Store} over a Workers KV namespace. KV is eventually consistent across locations and allows one
 * write per second per key. With `writer`, every write goes through the key's writer object: serialised,
 * none lost, and copied to KV at most once a second; reads come from KV, a moment behind, unless they ask
 * for the writer's state. Without it, `update` (and so every chained write) is a read then a write, and
 * concurrent updates of a key lose all but the last. `list` reads every listed value (one KV read per
 * key); `keys` reads none.
 */
export function kvStore<T = unknown, M = unknown>(
  namespace: KVNamespace,
  options: KvStoreOptions = {},
): KvStore<T, M> {
  const prefix = options.prefix ?? "";
  const writer = options.writer;
  const writerOf = (key: string) => {
    if (!writer) throw new Error("kvStore: no writer");
    return writer.namespace.get(writer.namespace.idFromName(`${writer.binding}\u0000${prefix}${key}`));
  };
  const send = (key: string, op: WriteOp) =>
    writerOf(key).write(writer!.binding, prefix + key, op as never) as unknown as Promise<WriteResult>;
  const decoded = (state: WrittenState) => (state.text === null ? undefined : decode<T>(state.text));

  async function write(key: string, value: T, envelope: Envelope<M>): Promise<void> {
    if (writer) {
      // What KV would refuse is refused here, before the writer acknowledges what it could never copy.
      if (new TextEncoder().encode(prefix + key).length > KV_MAX_KEY_BYTES) {
        throw new RangeError(`kvStore: key ${prefix + key} is over KV's ${KV_MAX_KEY_BYTES} bytes`);
      }
      const metadata = JSON.stringify({ ...envelope, v: Number.MAX_SAFE_INTEGER });
      if (new TextEncoder().encode(metadata).length > KV_MAX_METADATA_BYTES) {
        throw new RangeError(
          `kvStore: the metadata of ${key} is over KV's ${KV_MAX_METADATA_BYTES} bytes with the store's own`,
        );
      }
      const result = await send(key, { kind: "put", text: encode(value), m: envelope.m, x: envelope.x });
      if (!result.ok) throw new Error("kvStore: a put cannot conflict");
      return;
    }
    const hasMetadata = envelope.m !== undefined || envelope.x !== undefined || envelope.v !== undefined;
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
    writes: writer ? "serialized" : "last-write-wins",
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
    async getWithVersion(key, readOptions = {}) {
      checkKey(key);
      if (writer && readOptions.consistent) {
        const state = (await writerOf(key).read(writer.binding, prefix + key)) as unknown as WrittenState;
        return { value: decoded(state), version: state.version };
      }
      const { value, envelope } = await readRaw(key);
      return { value, version: envelope.v ?? 0 };
    },
    async getConsistent(key) {
      return (await store.getWithVersion(key, { consistent: true })).value;
    },
    async delete(key) {
      checkKey(key);
      if (writer) {
        await send(key, { kind: "delete" });
        return;
      }
      await namespace.delete(prefix + key);
    },
    async update(key, fn, updateOptions = {}) {
      checkKey(key);
      if (writer) {
        let kept: T | undefined;
        // An error of `fn` would cross two RPC hops and lose its class: it is kept here and rethrown.
        let thrown: { error: unknown } | undefined;
        const result = await send(key, {
          kind: "update",
          ifVersion: updateOptions.ifVersion,
          minTtlSeconds: KV_MIN_TTL_SECONDS,
          // Called by the writer, in its turn, with the current value: runs here, in the caller's Worker.
          next: (text) => {
            try {
              const current = text === undefined ? undefined : decode<T>(text);
              const next = fn(current);
              kept = current;
              return next === unchanged ? null : encode(next);
            } catch (error) {
              thrown = { error };
              return null;
            }
          },
        });
        if (thrown) throw thrown.error;
        if (!result.ok)
          throw new VersionConflictError(key, result.conflict.expected, result.conflict.current);
        return result.changed ? decoded(result.state) : kept;
      }
      const { value, envelope } = await readRaw(key);
      if (updateOptions.ifVersion !== undefined && updateOptions.ifVersion !== (envelope.v ?? 0)) {
        throw new VersionConflictError(key, updateOptions.ifVersion, envelope.v ?? 0);
      }
      const next = fn(value);
      if (next === unchanged) return value;
      // A key in its last minute is kept for KV's minimum minute rather than refused.
      const x =
        envelope.x === undefined
          ? undefined
          : Math.max(envelope.x, Math.ceil(Date.now() / 1000) + KV_MIN_TTL_SECONDS);
      await write(key, next, { ...envelope, v: (envelope.v ?? 0) + 1, ...(x !== undefined ? { x } : {}) });
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
