import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { chain, chainAt } from "./chain.js";
import type { StorageTestObject } from "./test-worker.js";
import { BACKENDS, testObject } from "./testing.js";

interface User {
  profile?: { name: string; joined?: Date };
  tags?: string[];
}

/** A loosely typed document: any name is a node. */
type Loose = { [name: string]: unknown };
interface Docs {
  doc: Loose;
  nokey: Loose;
  nobody: Loose;
  session: { user: string; seen?: boolean };
}

describe.each(BACKENDS)("chain over $name", (backend) => {
  it("writes at depth, creating the missing parts, and reads at any depth", () =>
    backend.run(async (open) => {
      const store = open();
      const s = chain<{ users: Record<string, User> }>(store);
      const alice = s.users.at("alice");
      await alice.profile.name.set("Alice");
      await alice.profile.joined.set(new Date(0));
      // @ts-expect-error the chain carries the document's types: a name is a string
      await expect(alice.profile.name.set(42)).resolves.toBeUndefined();
      await alice.profile.name.set("Alice");
      expect(await s.users.at("alice").profile.name.get()).toBe("Alice");
      expect(await alice.get()).toStrictEqual({ profile: { name: "Alice", joined: new Date(0) } });
      // The first segment is the storage key; the rest lives inside its document.
      expect(await store.get("users")).toStrictEqual({
        alice: { profile: { name: "Alice", joined: new Date(0) } },
      });
      expect((await store.keys()).entries).toStrictEqual(["users"]);
    }));

  it("reads through missing parts as undefined, as optional chaining does", () =>
    backend.run(async (open) => {
      const s = chain<Docs>(open());
      expect(await s.nobody.at("is", "missing").get()).toBeUndefined();
      await s.doc.set({ n: 1, text: "abc", nothing: null });
      expect(await s.doc.at("missing", "deeper").get()).toBeUndefined();
      expect(await s.doc.at("n", "deeper").get()).toBeUndefined();
      expect(await s.doc.at("text", "length").get()).toBeUndefined();
      expect(await s.doc.at("nothing", "deeper").get()).toBeUndefined();
      expect(await s.doc.at("constructor").get()).toBeUndefined();
      expect(await s.doc.at("nothing").get()).toBeNull();
    }));

  it("keeps siblings when writing at depth, and replaces a subtree when writing above it", () =>
    backend.run(async (open) => {
      const s = chain<{ doc: { a: { x?: number; y?: number; z?: number }; b: number } }>(open());
      await s.doc.set({ a: { x: 1, y: 2 }, b: 3 });
      await s.doc.a.x.set(10);
      expect(await s.doc.get()).toStrictEqual({ a: { x: 10, y: 2 }, b: 3 });
      await s.doc.a.set({ z: 0 });
      expect(await s.doc.get()).toStrictEqual({ a: { z: 0 }, b: 3 });
    }));

  it("deletes at depth, and deleting through a missing part changes nothing", () =>
    backend.run(async (open) => {
      const store = open();
      const s = chain<Docs>(store);
      await s.doc.set({ a: { x: 1, y: 2 }, b: 3 });
      await s.doc.at("a", "x").delete();
      expect(await s.doc.get()).toStrictEqual({ a: { y: 2 }, b: 3 });
      await s.doc.at("missing", "deeper").delete();
      await s.doc.at("a", "absent").delete();
      await s.nokey.at("a").delete();
      expect(await s.doc.get()).toStrictEqual({ a: { y: 2 }, b: 3 });
      expect(await store.get("nokey")).toBeUndefined();
    }));

  it("deletes the storage key when deleting at the first segment", () =>
    backend.run(async (open) => {
      const store = open();
      const s = chain<Docs>(store);
      await s.doc.set({ a: 1 });
      await s.doc.delete();
      expect(await store.get("doc")).toBeUndefined();
      expect((await store.keys()).entries).toStrictEqual([]);
    }));

  it("indexes arrays by number and Maps by string key; deleting an array item splices it out", () =>
    backend.run(async (open) => {
      const s = chain<{ doc: { list: string[]; byName: Map<string, { n: number }> } }>(open());
      await s.doc.set({ list: ["a", "b", "c"], byName: new Map([["x", { n: 1 }]]) });
      expect(await s.doc.list[1]!.get()).toBe("b");
      await s.doc.list[1]!.set("B");
      await s.doc.list[0]!.delete();
      expect(await s.doc.list.get()).toStrictEqual(["B", "c"]);
      expect(await s.doc.byName.x!.n.get()).toBe(1);
      await s.doc.byName.x!.n.set(2);
      await s.doc.byName.y!.n.set(3);
      await s.doc.byName.x!.delete();
      expect(await s.doc.byName.get()).toStrictEqual(new Map([["y", { n: 3 }]]));
    }));

  it("refuses to write below a primitive, null, a Date or a named array property, naming where", () =>
    backend.run(async (open) => {
      const s = chain<Docs>(open());
      await s.doc.set({ text: "abc", nothing: null, when: new Date(0), list: [] });
      await expect(s.doc.at("text", "x").set(1)).rejects.toThrow(
        /cannot write below doc\.text: it is a string, not an object/,
      );
      await expect(s.doc.at("nothing", "x", "y").set(1)).rejects.toThrow(/below doc\.nothing: it is null/);
      await expect(s.doc.at("when", "x").set(1)).rejects.toThrow(/below doc\.when: it is a Date/);
      await expect(s.doc.at("list", "first").set(1)).rejects.toThrow(
        /below doc\.list: it is an array, indexed by numbers/,
      );
      expect(await s.doc.get()).toStrictEqual({ text: "abc", nothing: null, when: new Date(0), list: [] });
    }));

  it("reaches names the chain uses itself through at() and chainAt()", () =>
    backend.run(async (open) => {
      const store = open();
      const s = chain<Docs>(store);
      await s.doc.at("get", "then").set(1);
      await chainAt(store, "then", "delete").set(2);
      // biome-ignore lint/suspicious/noThenProperty: a document's own "then" key is what this test stores
      expect(await store.get("doc")).toStrictEqual({ get: { then: 1 } });
      expect(await chainAt(store, "then").get()).toStrictEqual({ delete: 2 });
      expect(await s.doc.at("get", "then").get()).toBe(1);
      // `then` is never a node, or awaiting one would call it.
      expect((s.doc.at("get") as unknown as { then: unknown }).then).toBeUndefined();
    }));

  it("is not a thenable, so awaiting a node by mistake does not hang", () =>
    backend.run(async (open) => {
      const s = chain<Docs>(open());
      const node = s.doc.at("a");
      expect(await node).toBe(node);
      expect(await s).toBe(s);
    }));

  it("keeps the document's expiry when writing at depth", () =>
    backend.run(async (open) => {
      const store = open();
      await store.put("session", { user: "alice" }, { ttlSeconds: 600 });
      await chain<Docs>(store).session.seen.set(true);
      expect(await store.get("session")).toStrictEqual({ user: "alice", seen: true });
    }));
});

describe("chain over durableStore", () => {
  it("applies concurrent writes at depth to one document without losing any", async () => {
    const stub = testObject();
    await Promise.all(Array.from({ length: 25 }, (_, i) => stub.setAt("doc", [`f${i}`], i)));
    await runInDurableObject(stub, async ({ store }: StorageTestObject) => {
      expect(await store.get("doc")).toStrictEqual(
        Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, i])),
      );
    });
  });

  it("keeps the expiry of a document written at depth, so it still expires", async () => {
    await runInDurableObject(testObject(), async (instance: StorageTestObject) => {
      await instance.store.put("session", { user: "alice" }, { ttlSeconds: 60 });
      const s = chain<Docs>(instance.store);
      await s.session.seen.set(true);
      instance.advanceClock(120_000);
      expect(await s.session.user.get()).toBeUndefined();
    });
  });
});
