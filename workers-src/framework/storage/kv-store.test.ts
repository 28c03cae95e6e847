import { describe, expect, it } from "vitest";
import { encode } from "./codec.js";
import { kvStore } from "./kv-store.js";
import { testEnv, uniqueName } from "./testing.js";

function openKv() {
  const prefix = `${uniqueName("kv")}/`;
  return { prefix, store: kvStore<unknown, { owner: string }>(testEnv.STORAGE_TEST_KV, { prefix }) };
}

async function rawExpiration(key: string): Promise<number | undefined> {
  const { keys } = await testEnv.STORAGE_TEST_KV.list({ prefix: key });
  return keys.find((entry) => entry.name === key)?.expiration;
}

describe("kvStore", () => {
  it("stores the codec's text under the prefixed key", async () => {
    const { prefix, store } = openKv();
    const value = { at: new Date(0), n: 1n };
    await store.put("doc", value);
    expect(await testEnv.STORAGE_TEST_KV.get(`${prefix}doc`)).toBe(encode(value));
  });

  it("keeps metadata with a key, and reads it back with getWithMetadata", async () => {
    const { store } = openKv();
    await store.put("with", 1, { metadata: { owner: "alice" } });
    await store.put("without", 2);
    expect(await store.getWithMetadata("with")).toStrictEqual({ value: 1, metadata: { owner: "alice" } });
    expect(await store.getWithMetadata("without")).toStrictEqual({ value: 2, metadata: undefined });
    expect(await store.getWithMetadata("missing")).toStrictEqual({ value: undefined, metadata: undefined });
  });

  it("passes ttlSeconds and expireAt to KV as an expiration in seconds", async () => {
    const { prefix, store } = openKv();
    const now = Date.now();
    await store.put("ttl", 1, { ttlSeconds: 120 });
    await store.put("at", 1, { expireAt: new Date(now + 3_600_500) });
    expect(await rawExpiration(`${prefix}ttl`)).toBeGreaterThanOrEqual(Math.floor(now / 1000) + 120);
    expect(await rawExpiration(`${prefix}ttl`)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 120);
    expect(await rawExpiration(`${prefix}at`)).toBe(Math.ceil((now + 3_600_500) / 1000));
  });

  it("refuses an expiry under KV's minimum of 60 seconds, before writing", async () => {
    const { store } = openKv();
    await expect(store.put("k", 1, { ttlSeconds: 5 })).rejects.toThrow(
      /k would expire in 5s; KV needs at least 60s/,
    );
    await expect(store.put("k", 1, { expireAt: Date.now() - 1000 })).rejects.toThrow(RangeError);
    expect(await store.get("k")).toBeUndefined();
  });

  it("keeps metadata and expiration through update", async () => {
    const { prefix, store } = openKv();
    await store.put("doc", { n: 1 }, { ttlSeconds: 600, metadata: { owner: "bob" } });
    const expiration = await rawExpiration(`${prefix}doc`);
    await store.update("doc", () => ({ n: 2 }));
    expect(await store.getWithMetadata("doc")).toStrictEqual({ value: { n: 2 }, metadata: { owner: "bob" } });
    expect(await rawExpiration(`${prefix}doc`)).toBe(expiration);
  });

  it("puts metadata on an added value", async () => {
    const { store } = openKv();
    const id = await store.add("v", { metadata: { owner: "carol" } });
    expect(await store.getWithMetadata(id)).toStrictEqual({ value: "v", metadata: { owner: "carol" } });
  });
});
