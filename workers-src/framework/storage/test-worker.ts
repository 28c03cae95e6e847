import { DurableObject } from "cloudflare:workers";
import { chainAt } from "./chain.js";
import { type DurableStore, durableStore } from "./durable-store.js";
import { KvWriter } from "./kv-writer.js";

export interface StorageTestEnv {
  STORAGE_TEST_OBJECT: DurableObjectNamespace<StorageTestObject>;
  STORAGE_TEST_KV: KVNamespace;
  KV_WRITER: DurableObjectNamespace<TestKvWriter>;
}

/** The framework's KV writer, plus a way for tests to evict it as the runtime may at any moment. */
export class TestKvWriter extends KvWriter {
  evict(): void {
    this.ctx.abort("evicted by the test");
  }
}

/**
 * The Durable Object the storage tests run in. Its store reads a clock the tests can move forward, so
 * expiry is tested without waiting and without the real alarm firing first; the skew is in memory only,
 * so a new instance after an eviction starts at the real time again.
 */
export class StorageTestObject extends DurableObject<StorageTestEnv> {
  readonly instanceId = crypto.randomUUID();
  skewMs = 0;
  readonly store: DurableStore;

  constructor(ctx: DurableObjectState, env: StorageTestEnv) {
    super(ctx, env);
    this.store = durableStore(ctx.storage, { prefix: "test:", now: () => Date.now() + this.skewMs });
  }

  advanceClock(ms: number): void {
    this.skewMs += ms;
  }

  /** A chained write arriving as its own request, for tests of concurrent writes. */
  async setAt(key: string, path: string[], value: number): Promise<void> {
    await chainAt(this.store, key, ...path).set(value);
  }

  override async alarm(): Promise<void> {
    await this.store.alarm();
  }
}

export default {
  fetch: () => new Response("storage test worker", { status: 404 }),
} satisfies ExportedHandler<StorageTestEnv>;
