import { env, runInDurableObject } from "cloudflare:test";
import { durableStore } from "./durable-store.js";
import { kvStore } from "./kv-store.js";
import type { Store } from "./store.js";
import type { StorageTestEnv, StorageTestObject } from "./test-worker.js";

export const testEnv = env as unknown as StorageTestEnv;

/** A name no other test uses: storage is shared by the tests of a file. */
export function uniqueName(label: string): string {
  return `${label}-${crypto.randomUUID()}`;
}

export function testObject(name = uniqueName("object")) {
  return testEnv.STORAGE_TEST_OBJECT.get(testEnv.STORAGE_TEST_OBJECT.idFromName(name));
}

/** Opens a store of the backend under test; stores opened with different prefixes do not meet. */
export type OpenStore = (prefix?: string) => Store;

export interface Backend {
  name: string;
  /** Runs `fn` with fresh storage: a new KV prefix, or a new Durable Object (run inside it). */
  run(fn: (open: OpenStore) => Promise<void>): Promise<void>;
}

export const BACKENDS: Backend[] = [
  {
    name: "kvStore",
    run: (fn) => {
      const base = `${uniqueName("kv")}/`;
      return fn((prefix = "") => kvStore(testEnv.STORAGE_TEST_KV, { prefix: base + prefix }));
    },
  },
  {
    name: "durableStore",
    run: (fn) =>
      runInDurableObject(testObject(), (_instance: StorageTestObject, state) =>
        fn((prefix = "") => durableStore(state.storage, { prefix })),
      ),
  },
];
