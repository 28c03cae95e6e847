import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { chainAt } from "./chain.js";
import { decode } from "./codec.js";
import { kvStore, VersionConflictError } from "./kv-store.js";
import type { KvEnvelope } from "./kv-writer.js";
import { testEnv, uniqueName } from "./testing.js";

type Doc = Record<string, unknown>;

function open(writes: "serialized" | "last-write-wins", prefix = `${uniqueName("writer")}/`) {
  const store = kvStore<Doc>(testEnv.STORAGE_TEST_KV, {
    prefix,
    ...(writes === "serialized"
      ? { writer: { namespace: testEnv.KV_WRITER as never, binding: "STORAGE_TEST_KV" } }
      : {}),
  });
  const writerOf = (key: string) =>
    testEnv.KV_WRITER.get(testEnv.KV_WRITER.idFromName(`STORAGE_TEST_KV\u0000${prefix}${key}`));
  const raw = (key: string) => testEnv.STORAGE_TEST_KV.getWithMetadata<KvEnvelope>(prefix + key, "text");
  /**
   * KV's copy of `key` once the writer copied the state `done` accepts: runs the writer's alarm now
   * (unless it is already firing on its own) until KV holds it.
   */
  const copied = async (key: string, done: (copy: Awaited<ReturnType<typeof raw>>) => boolean) => {
    for (let tries = 0; tries < 200; tries++) {
      await runDurableObjectAlarm(writerOf(key));
      const copy = await raw(key);
      if (done(copy)) return copy;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`the writer never copied ${key} to KV`);
  };
  return { store, writerOf, copied, raw };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("kvStore with a writer (serialized writes)", () => {
  it("keeps all 50 of 50 concurrent chained writes to different paths of one document", async () => {
    const { store, copied } = open("serialized");
    expect(store.writes).toBe("serialized");
    await store.put("doc", { title: "t" });
    await Promise.all(range(50).map((i) => chainAt(store, "doc", "fields", `f${i}`).set(i)));
    const doc = (await store.getConsistent("doc")) as { fields: Record<string, number> };
    expect(Object.keys(doc.fields)).toHaveLength(50);
    expect(doc.fields.f37).toBe(37);
    // KV gets the latest state from the writer's alarm, with the version in its metadata.
    const copy = await copied("doc", (c) => c.metadata?.v === 51);
    expect(Object.keys((decode(copy.value!) as { fields: object }).fields)).toHaveLength(50);
    expect(await store.getWithVersion("doc")).toEqual({ value: doc, version: 51 });
  });

  it("ends 50 concurrent increments of one counter through update at 50", async () => {
    const { store } = open("serialized");
    await Promise.all(
      range(50).map(() => store.update("counter", (c) => ({ n: ((c?.n as number) ?? 0) + 1 }))),
    );
    expect(await store.getConsistent("counter")).toEqual({ n: 50 });
  });

  it("loses no acknowledged write when the writer is evicted mid-stream", async () => {
    const { store, writerOf } = open("serialized");
    await store.put("doc", {});
    const acknowledged: number[] = [];
    const writes = range(50).map((i) =>
      chainAt(store, "doc", `f${i}`)
        .set(i)
        .then(() => acknowledged.push(i)),
    );
    // Evict once some writes are in.
    while (acknowledged.length < 10) await new Promise((r) => setTimeout(r, 1));
    await writerOf("doc")
      .evict()
      .catch(() => undefined);
    const outcomes = await Promise.allSettled(writes);
    const doc = (await store.getConsistent("doc")) as Record<string, number>;
    for (const i of acknowledged) expect(doc[`f${i}`], `f${i} was acknowledged`).toBe(i);
    // A write that failed with the eviction was not acknowledged; every one that succeeded is there.
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(acknowledged.length);
    expect(acknowledged.length).toBeGreaterThanOrEqual(10);
  });

  it("refuses an update at a stale version with the current one, and writes nothing", async () => {
    const { store } = open("serialized");
    await store.put("doc", { a: 1 });
    const { version } = await store.getWithVersion("doc", { consistent: true });
    expect(version).toBe(1);
    await store.update("doc", (d) => ({ ...d, b: 2 }), { ifVersion: version });
    const stale = store.update("doc", (d) => ({ ...d, c: 3 }), { ifVersion: version });
    await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
    await expect(stale).rejects.toMatchObject({ expected: 1, current: 2 });
    expect(await store.getConsistent("doc")).toEqual({ a: 1, b: 2 });
  });

  it("starts from what KV holds for a key it has not seen, version included", async () => {
    const prefix = `${uniqueName("adopt")}/`;
    // Written before the writer was used: by a last-write-wins store of the same namespace and prefix.
    const before = open("last-write-wins", prefix);
    await before.store.put("doc", { old: true });
    await before.store.update("doc", (d) => ({ ...d, older: true }));
    const { store, copied } = open("serialized", prefix);
    expect(await store.getWithVersion("doc", { consistent: true })).toEqual({
      value: { old: true, older: true },
      version: 1,
    });
    await chainAt(store, "doc", "new").set(true);
    expect(await store.getConsistent("doc")).toEqual({ old: true, older: true, new: true });
    const copy = await copied("doc", (c) => c.metadata?.v === 2);
    expect(decode(copy.value!)).toEqual({ old: true, older: true, new: true });
  });

  it("keeps the first write of a key adopted from KV when a consistent read arrives with it", async () => {
    const prefix = `${uniqueName("race")}/`;
    await open("last-write-wins", prefix).store.put("doc", { old: true });
    const { store } = open("serialized", prefix);
    const [, read] = await Promise.all([
      chainAt(store, "doc", "new").set(true),
      store.getWithVersion("doc", { consistent: true }),
    ]);
    expect(read.value).toBeDefined();
    expect(await store.getConsistent("doc")).toEqual({ old: true, new: true });
    await chainAt(store, "doc", "later").set(1);
    expect(await store.getConsistent("doc")).toEqual({ old: true, new: true, later: 1 });
  });

  it("gives an update's own error back as thrown, and takes the next write", async () => {
    class Refused extends Error {
      override name = "Refused";
    }
    const { store } = open("serialized");
    await store.put("doc", { a: 1 });
    const failing = store.update("doc", () => {
      throw new Refused("no");
    });
    await expect(failing).rejects.toBeInstanceOf(Refused);
    await store.update("doc", (d) => ({ ...d, b: 2 }));
    expect(await store.getWithVersion("doc", { consistent: true })).toEqual({
      value: { a: 1, b: 2 },
      version: 2,
    });
  });

  it("refuses, before acknowledging, what KV would refuse to copy", async () => {
    const { store } = open("serialized");
    await expect(store.put("doc", {}, { metadata: { big: "x".repeat(1020) } } as never)).rejects.toThrow(
      /over KV's 1024 bytes/,
    );
    await expect(store.put("k".repeat(600), {})).rejects.toThrow(/over KV's 512 bytes/);
    expect(await store.getConsistent("doc")).toBeUndefined();
  });

  it("deletes through the writer, and a consistent read sees the deletion at once", async () => {
    const { store, copied } = open("serialized");
    await store.put("doc", { a: 1 });
    await copied("doc", (c) => c.metadata?.v === 1);
    await store.delete("doc");
    expect(await store.getConsistent("doc")).toBeUndefined();
    expect((await copied("doc", (c) => c.value === null)).value).toBeNull();
  });
});

describe("kvStore without a writer (last-write-wins, the documented opt-out)", () => {
  it("loses concurrent chained writes to one document: a read then a write each", async () => {
    const { store } = open("last-write-wins");
    expect(store.writes).toBe("last-write-wins");
    await store.put("doc", {});
    const results = await Promise.allSettled(range(50).map((i) => chainAt(store, "doc", `f${i}`).set(i)));
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    const kept = Object.keys((await store.get("doc")) ?? {}).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(50);
  });

  it("keeps a version in the metadata and checks ifVersion before writing", async () => {
    const { store } = open("last-write-wins");
    await store.put("doc", { a: 1 });
    await store.update("doc", (d) => ({ ...d, b: 2 }));
    expect(await store.getWithVersion("doc")).toEqual({ value: { a: 1, b: 2 }, version: 1 });
    await expect(store.update("doc", (d) => d!, { ifVersion: 0 })).rejects.toMatchObject({
      name: "VersionConflictError",
      current: 1,
    });
  });
});
