import { type Store, unchanged } from "./store.js";

/**
 * Property chains over a {@link Store}: `await chain(store).users.alice.profile.name.get()`.
 *
 * The first segment is the storage key and the rest is a path inside the document stored there
 * (`users` → key "users", then `.alice.profile.name` inside it). A document is read and written in one
 * storage operation, so a write at depth is one atomic read-modify-write in a Durable Object, and a key
 * stays a unit that `list` and expiry apply to. (One key per path, "users/alice/profile/name", would make
 * reading a subtree a list and writing one many writes, with no atomicity.)
 *
 * - `get()` reads through missing parts as optional chaining does: `undefined`, not an error.
 * - `set(value)` creates missing intermediate parts as plain objects; a part that is a primitive or null
 *   is an error, not silently replaced. The document keeps its expiry.
 * - `delete()` removes the property (an array item is spliced out, a Map entry deleted); at the first
 *   segment it deletes the key. Deleting through a missing part writes nothing.
 * - Path segments index plain objects (own properties only), arrays (canonical indexes) and Maps (string
 *   keys).
 *
 * Writes go through {@link Store.update}: atomic on `durableStore`, last writer wins on `kvStore`.
 * Names the chain uses itself (`get`, `set`, `delete`, `at`, `then`) are reached with `at(...)`, and a
 * first segment that is one of them with {@link chainAt}.
 *
 * @typeParam S - each storage key's document type, e.g. `{ users: Record<string, User> }`. The chain
 * trusts it: values are not checked against it when read.
 * @default Record<string, unknown>
 */
export function chain<S extends object = Record<string, unknown>>(store: Store<unknown>): ChainRoot<S> {
  return new Proxy(Object.create(null), {
    get(_target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      return node(store, [name]);
    },
  }) as ChainRoot<S>;
}

/** The chain node at `key` and then `path` inside its document, for names a property cannot reach. */
export function chainAt(store: Store<unknown>, key: string, ...path: string[]): Chain<unknown> {
  return node(store, [key, ...path]) as Chain<unknown>;
}

export interface ChainNode<T> {
  get(): Promise<T | undefined>;
  set(value: T): Promise<void>;
  delete(): Promise<void>;
  /** The node below this one at `segment`: a name the chain uses itself, or a key only known at run time. */
  at(segment: string): Chain<ChildOf<NonNullable<T>>>;
  /** The node `path` below this one. */
  at(...path: string[]): Chain<unknown>;
}

/** The type of a value one segment below a `T`, when every segment leads to the same type. */
type ChildOf<T> = unknown extends T
  ? unknown
  : T extends ReadonlyMap<string, infer V>
    ? V
    : T extends readonly (infer E)[]
      ? E
      : T extends Record<string, infer V>
        ? V
        : unknown;

type ChainMethod = keyof ChainNode<unknown> | "then";
type Leaf = string | number | boolean | bigint | symbol | null | undefined | Date | RegExp | Set<unknown>;
type Children<T> = [T] extends [Leaf]
  ? unknown
  : T extends ReadonlyMap<string, infer V>
    ? { readonly [name: string]: Chain<V> }
    : T extends readonly (infer E)[]
      ? { readonly [index: number]: Chain<E> }
      : { readonly [K in Exclude<keyof T, ChainMethod | symbol | number>]-?: Chain<T[K]> };

/**
 * A node of a property chain: its methods, and a node for every property of the value's type there. An
 * `unknown` value has a node for any name (an index signature: with `noUncheckedIndexedAccess`, reach it
 * with `at(name)`).
 */
export type Chain<T> = ChainNode<T> & (unknown extends T ? UnknownChildren : Children<NonNullable<T>>);
type UnknownChildren = { readonly [name: string]: Chain<unknown> };

/** `S` maps each storage key to the type of the document stored there. */
export type ChainRoot<S> = { readonly [K in Exclude<keyof S, "then" | symbol | number>]-?: Chain<S[K]> };

function node(store: Store<unknown>, path: string[]): ChainNode<unknown> {
  const methods: ChainNode<unknown> = {
    get: () => read(store, path[0]!, path.slice(1)),
    set: (value) => write(store, path[0]!, path.slice(1), value),
    delete: () => remove(store, path[0]!, path.slice(1)),
    at: (...more: string[]) => node(store, [...path, ...more]) as Chain<unknown>,
  };
  return new Proxy(methods, {
    get(target, name) {
      if (typeof name !== "string" || name === "then") return undefined;
      if (Object.hasOwn(target, name)) return target[name as keyof ChainNode<unknown>];
      return node(store, [...path, name]);
    },
  });
}

async function read(store: Store<unknown>, key: string, path: string[]): Promise<unknown> {
  let value = await store.get(key);
  for (const segment of path) {
    value = childOf(value, segment);
    if (value === undefined) return undefined;
  }
  return value;
}

async function write(store: Store<unknown>, key: string, path: string[], value: unknown): Promise<void> {
  await store.update(key, (document) => {
    if (path.length === 0) return value;
    const root = document === undefined ? {} : document;
    let parent: unknown = root;
    for (let i = 0; i < path.length - 1; i++) {
      const where = [key, ...path.slice(0, i)];
      let child = childOf(parent, path[i]!, where);
      if (child === undefined) {
        child = {};
        setChild(parent, path[i]!, child, where);
      }
      parent = child;
    }
    setChild(parent, path.at(-1)!, value, [key, ...path.slice(0, -1)]);
    return root;
  });
}

async function remove(store: Store<unknown>, key: string, path: string[]): Promise<void> {
  if (path.length === 0) return store.delete(key);
  await store.update(key, (document) => {
    let parent = document;
    for (const segment of path.slice(0, -1)) {
      parent = childOf(parent, segment);
      if (parent === undefined) return unchanged;
    }
    const last = path.at(-1)!;
    if (parent instanceof Map) return parent.delete(last) ? document : unchanged;
    if (Array.isArray(parent)) {
      const index = arrayIndex(last);
      if (index === undefined || index >= parent.length) return unchanged;
      parent.splice(index, 1);
      return document;
    }
    if (isRecord(parent) && Object.hasOwn(parent, last)) {
      delete parent[last];
      return document;
    }
    return unchanged;
  });
}

/** The value under `segment`, or `undefined`; with `where`, a non-container is an error (for writes). */
function childOf(value: unknown, segment: string, where?: string[]): unknown {
  if (value instanceof Map) return value.get(segment);
  if (Array.isArray(value)) {
    const index = arrayIndex(segment);
    if (index === undefined && where) throw notIndexable(where, "an array, indexed by numbers");
    return index === undefined ? undefined : value[index];
  }
  if (isRecord(value)) return Object.hasOwn(value, segment) ? value[segment] : undefined;
  if (where) throw notIndexable(where, describe(value));
  return undefined;
}

function setChild(parent: unknown, segment: string, value: unknown, where: string[]): void {
  if (parent instanceof Map) {
    parent.set(segment, value);
  } else if (Array.isArray(parent)) {
    const index = arrayIndex(segment);
    if (index === undefined) throw notIndexable(where, "an array, indexed by numbers");
    parent[index] = value;
  } else if (isRecord(parent)) {
    Object.defineProperty(parent, segment, { value, enumerable: true, writable: true, configurable: true });
  } else {
    throw notIndexable(where, describe(parent));
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function arrayIndex(segment: string): number | undefined {
  const index = Number(segment);
  return Number.isInteger(index) && index >= 0 && String(index) === segment ? index : undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return `a ${typeof value}`;
  return `a ${Object.getPrototypeOf(value)?.constructor?.name ?? "object"}`;
}

function notIndexable(where: string[], what: string): TypeError {
  return new TypeError(
    `chain: cannot write below ${where.join(".")}: it is ${what}, not an object, array or map`,
  );
}
