import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { DURABLE_STORE_TABLE, durableStore, prefixEnd } from "./durable-store.js";
import type { StorageTestObject } from "./test-worker.js";
import { testObject } from "./testing.js";

const HOUR = 3_600_000;

/** Rows of the store's table, expired or not: what is still on disk. */
function storedKeys(state: DurableObjectState): string[] {
  return state.storage.sql
    .exec<{ key: string }>(`SELECT key FROM ${DURABLE_STORE_TABLE} ORDER BY key`)
    .toArray()
    .map((row) => row.key);
}

describe("durableStore expiry", () => {
  it("hides an expired key from get, list, keys and update before the alarm removes it", async () => {
    const stub = testObject();
    await runInDurableObject(stub, async (instance: StorageTestObject, state) => {
      const { store } = instance;
      await store.put("short", "s", { ttlSeconds: 60 });
      await store.put("long", "l", { expireAt: new Date(Date.now() + 3 * HOUR) });
      await store.put("forever", "f");
      expect(await store.get("short")).toBe("s");

      instance.advanceClock(HOUR);
      expect(await store.get("short")).toBeUndefined();
      expect((await store.list()).entries).toStrictEqual([
        ["forever", "f"],
        ["long", "l"],
      ]);
      expect((await store.keys()).entries).toStrictEqual(["forever", "long"]);
      expect(await store.update("short", (current) => current)).toBeUndefined();
      await store.delete("short");
      await store.put("short", "s", { ttlSeconds: 60 });
      instance.advanceClock(HOUR);
      expect(storedKeys(state)).toStrictEqual(["test:forever", "test:long", "test:short"]);
    });

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (instance: StorageTestObject, state) => {
      expect(storedKeys(state)).toStrictEqual(["test:forever", "test:long"]);
      expect(await instance.store.get("long")).toBe("l");
      // Re-armed for the key still waiting to expire.
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now() + HOUR);
    });
  });

  it("sets the alarm to the earliest expiry: an earlier key moves it earlier, a later one does not", async () => {
    const stub = testObject();
    await runInDurableObject(stub, async ({ store }: StorageTestObject, state) => {
      const base = Date.now() + HOUR;
      expect(await state.storage.getAlarm()).toBeNull();
      await store.put("b", 1, { expireAt: base + 1000 });
      expect(await state.storage.getAlarm()).toBe(base + 1000);
      await store.put("c", 1, { expireAt: base + 5000 });
      expect(await state.storage.getAlarm()).toBe(base + 1000);
      await store.put("a", 1, { expireAt: base });
      expect(await state.storage.getAlarm()).toBe(base);
    });
  });

  it("removes only what has expired when the alarm runs, and leaves no alarm once nothing expires", async () => {
    const stub = testObject();
    await runInDurableObject(stub, async (instance: StorageTestObject) => {
      await instance.store.put("first", 1, { ttlSeconds: 60 });
      await instance.store.put("second", 2, { ttlSeconds: 120 });
      instance.advanceClock(90_000);
      expect(await instance.store.alarm()).toBe(1);
      expect(await instance.store.alarm()).toBe(0);
      expect((await instance.store.keys()).entries).toStrictEqual(["second"]);
      instance.advanceClock(60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: StorageTestObject, state) => {
      expect(storedKeys(state)).toStrictEqual([]);
      expect(await state.storage.getAlarm()).toBeNull();
    });
    expect(await runDurableObjectAlarm(stub)).toBe(false);
  });

  it("keeps a key's expiry through update, and a plain put makes the key permanent again", async () => {
    await runInDurableObject(testObject(), async (instance: StorageTestObject) => {
      const { store } = instance;
      await store.put("kept", { n: 1 }, { ttlSeconds: 60 });
      await store.update("kept", (current) => ({ ...(current as object), n: 2 }));
      await store.put("cleared", 1, { ttlSeconds: 60 });
      await store.put("cleared", 2);
      instance.advanceClock(HOUR);
      expect(await store.get("kept")).toBeUndefined();
      expect(await store.get("cleared")).toBe(2);
    });
  });

  it("still expires a key after an eviction: the new instance reads the expiry from storage", async () => {
    const stub = testObject();
    const first = await runInDurableObject(stub, async (instance: StorageTestObject) => {
      await instance.store.put("session", { user: "alice" }, { ttlSeconds: 600 });
      return instance.instanceId;
    });
    await evictDurableObject(stub);

    await runInDurableObject(stub, async (instance: StorageTestObject, state) => {
      expect(instance.instanceId).not.toBe(first);
      expect(await instance.store.get("session")).toStrictEqual({ user: "alice" });
      expect(await state.storage.getAlarm()).not.toBeNull();
      instance.advanceClock(HOUR);
      expect(await instance.store.get("session")).toBeUndefined();
      expect(storedKeys(state)).toStrictEqual(["test:session"]);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_instance: StorageTestObject, state) => {
      expect(storedKeys(state)).toStrictEqual([]);
    });
  });

  it("refuses an expiry given twice, a ttl that is not positive and an invalid date", async () => {
    await runInDurableObject(testObject(), async ({ store }: StorageTestObject) => {
      await expect(store.put("k", 1, { ttlSeconds: 1, expireAt: Date.now() })).rejects.toThrow(
        /either expireAt or ttlSeconds, not both/,
      );
      await expect(store.put("k", 1, { ttlSeconds: 0 })).rejects.toThrow(
        /ttlSeconds must be a positive number/,
      );
      await expect(store.put("k", 1, { expireAt: new Date(Number.NaN) })).rejects.toThrow(
        /expireAt must be a valid time/,
      );
      expect(await store.get("k")).toBeUndefined();
    });
  });
});

describe("durableStore", () => {
  it("refuses storage without SQL, naming the migration to use", () => {
    const storage = {
      get sql(): SqlStorage {
        throw new Error("SQL is not enabled for this Durable Object class.");
      },
    } as unknown as DurableObjectStorage;
    expect(() => durableStore(storage)).toThrow(
      /no SQL storage; declare its class in a `new_sqlite_classes`/,
    );
  });
});

describe("prefixEnd", () => {
  it.each([
    ["user:", "user;"],
    ["a", "b"],
    ["é", "ê"],
    ["x\u{d7ff}", "x\u{e000}"],
    ["ab\u{10ffff}", "ac"],
    ["\u{10ffff}", undefined],
    ["", undefined],
  ])("bounds keys starting with %j below %j", (prefix, end) => {
    expect(prefixEnd(prefix)).toBe(end);
  });
});
