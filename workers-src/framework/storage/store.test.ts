import { describe, expect, it } from "vitest";
import { type ListPage, unchanged } from "./store.js";
import { BACKENDS } from "./testing.js";
import { STORABLE_VALUES } from "./values.js";

describe.each(BACKENDS)("$name", (backend) => {
  it("gets undefined for a key never written", () =>
    backend.run(async (open) => {
      expect(await open().get("missing")).toBeUndefined();
    }));

  it("puts, overwrites and deletes a key; deleting a missing key is not an error", () =>
    backend.run(async (open) => {
      const store = open();
      await store.put("k", { v: 1 });
      expect(await store.get("k")).toStrictEqual({ v: 1 });
      await store.put("k", "second");
      expect(await store.get("k")).toBe("second");
      await store.delete("k");
      expect(await store.get("k")).toBeUndefined();
      await store.delete("k");
    }));

  it.each(STORABLE_VALUES)("round-trips %s through get and list", (name, value) =>
    backend.run(async (open) => {
      const store = open();
      await store.put(name, value);
      const back = await store.get(name);
      expect(back).toStrictEqual(value);
      if (typeof value === "number") expect(Object.is(back, value)).toBe(true);
      expect((await store.list()).entries).toStrictEqual([[name, value]]);
    }),
  );

  it("refuses a value the codec cannot store, and writes nothing", () =>
    backend.run(async (open) => {
      const store = open();
      await expect(store.put("k", { f: () => 1 })).rejects.toThrow(/cannot store a function at \$\.f/);
      expect(await store.get("k")).toBeUndefined();
    }));

  it("refuses an empty key, and a list limit outside 1 to 1000", () =>
    backend.run(async (open) => {
      const store = open();
      await expect(store.put("", 1)).rejects.toThrow(/a key must be a non-empty string \(got ""\)/);
      await expect(store.get("")).rejects.toThrow(TypeError);
      await expect(store.list({ limit: 0 })).rejects.toThrow(
        /limit must be an integer from 1 to 1000 \(got 0\)/,
      );
      await expect(store.keys({ limit: 1001 })).rejects.toThrow(RangeError);
    }));

  it("adds values under 26-character ids that list in the order they were added", () =>
    backend.run(async (open) => {
      const store = open();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await store.add({ i }));
      for (const id of ids) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(new Set(ids).size).toBe(5);
      expect([...ids].sort()).toStrictEqual(ids);
      expect((await store.list()).entries).toStrictEqual(ids.map((id, i) => [id, { i }]));
    }));

  it("updates a value from the current one, and `unchanged` writes nothing", () =>
    backend.run(async (open) => {
      const store = open();
      expect(
        await store.update("n", (current) => (current === undefined ? 1 : (current as number) + 1)),
      ).toBe(1);
      expect(await store.update("n", (current) => (current as number) + 1)).toBe(2);
      expect(await store.update("n", () => unchanged)).toBe(2);
      expect(await store.update("absent", () => unchanged)).toBeUndefined();
      expect(await store.get("n")).toBe(2);
      expect((await store.keys()).entries).toStrictEqual(["n"]);
    }));

  it("lists only the keys under a prefix, in byte order", () =>
    backend.run(async (open) => {
      const store = open();
      for (const key of ["user", "user:b", "user:a", "user;", "users", "user:\u{10ffff}", "user:é", "usea"]) {
        await store.put(key, key.length);
      }
      expect((await store.keys({ prefix: "user:" })).entries).toStrictEqual([
        "user:a",
        "user:b",
        "user:é",
        "user:\u{10ffff}",
      ]);
      expect((await store.list({ prefix: "user:a" })).entries).toStrictEqual([["user:a", 6]]);
      expect((await store.keys({ prefix: "nobody" })).entries).toStrictEqual([]);
    }));

  it("keeps stores with different prefixes apart", () =>
    backend.run(async (open) => {
      const a = open("a/");
      const b = open("b/");
      await a.put("k", "from a");
      await b.put("k", "from b");
      expect(await a.get("k")).toBe("from a");
      expect(await b.get("k")).toBe("from b");
      expect((await a.list()).entries).toStrictEqual([["k", "from a"]]);
      await a.delete("k");
      expect(await b.get("k")).toBe("from b");
    }));

  it("pages 250 keys 100 at a time, and iterates over all of them", () =>
    backend.run(async (open) => {
      const store = open();
      const keys = Array.from({ length: 250 }, (_, i) => `item:${String(i).padStart(3, "0")}`);
      await Promise.all(keys.map((key, i) => store.put(key, { i })));
      await store.put("other", "not listed");

      const pages: ListPage<[string, unknown]>[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ prefix: "item:", limit: 100, cursor });
        pages.push(page);
        cursor = page.cursor;
      } while (!pages.at(-1)!.complete);
      expect(pages.map((page) => page.entries.length)).toStrictEqual([100, 100, 50]);
      expect(pages.map((page) => page.complete)).toStrictEqual([false, false, true]);
      expect(pages.at(-1)!.cursor).toBeUndefined();
      expect(pages.flatMap((page) => page.entries)).toStrictEqual(keys.map((key, i) => [key, { i }]));

      const keyPage = await store.keys({ prefix: "item:", limit: 100, cursor: pages[0]!.cursor });
      expect(keyPage.entries).toStrictEqual(keys.slice(100, 200));

      const iterated: [string, unknown][] = [];
      for await (const entry of store.entries({ prefix: "item:", limit: 100 })) iterated.push(entry);
      expect(iterated).toStrictEqual(keys.map((key, i) => [key, { i }]));

      const allKeys: string[] = [];
      for await (const key of store.allKeys({ prefix: "item:", limit: 100 })) allKeys.push(key);
      expect(allKeys).toStrictEqual(keys);
    }));
});
