import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { LogLine } from "../shared/protocol";
import { MAX_LOG_LINE_BYTES } from "../shared/protocol";
import { LogStore } from "./log-store";

let objects = 0;
/** A LogStore in a fresh BuildBuddy's storage (each test its own object). */
async function withStore<T>(
  fn: (store: LogStore, storage: DurableObjectStorage) => T | Promise<T>,
): Promise<T> {
  const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName(`log-store-${objects++}-${Date.now()}`));
  return runInDurableObject(stub, (_instance, state) => fn(new LogStore(state.storage), state.storage));
}

const batch = (seq: number, count = 2): LogLine[] =>
  Array.from({ length: count }, (_, i) => ({ ts: 1_000 * seq + i, line: `batch ${seq} line ${i}` }));
const texts = (lines: LogLine[]) => lines.map((l) => l.line);

describe("LogStore: batches become readable lines in sequence order, once each", () => {
  const cases: {
    name: string;
    arrivals: number[];
    seal?: boolean;
    readable: number[];
    duplicates: number;
  }[] = [
    { name: "in order", arrivals: [1, 2, 3], readable: [1, 2, 3], duplicates: 0 },
    { name: "a resent batch is stored once", arrivals: [1, 1, 2, 2, 2], readable: [1, 2], duplicates: 3 },
    { name: "a batch ahead of a gap waits for it", arrivals: [1, 3], readable: [1], duplicates: 0 },
    {
      name: "the gap filled releases the waiting batches in order",
      arrivals: [2, 3, 1],
      readable: [1, 2, 3],
      duplicates: 0,
    },
    { name: "reverse arrival", arrivals: [5, 4, 3, 2, 1], readable: [1, 2, 3, 4, 5], duplicates: 0 },
    {
      name: "a waiting batch resent is a duplicate",
      arrivals: [3, 3, 1, 2],
      readable: [1, 2, 3],
      duplicates: 1,
    },
    {
      name: "sealing releases waiting batches past the gap",
      arrivals: [1, 3, 4],
      seal: true,
      readable: [1, 3, 4],
      duplicates: 0,
    },
    { name: "nothing arrived", arrivals: [], readable: [], duplicates: 0 },
  ];
  it.each(cases)("$name", async ({ arrivals, seal, readable, duplicates }) => {
    await withStore((store) => {
      let dup = 0;
      for (const seq of arrivals) if (store.append(seq, batch(seq)).duplicate) dup++;
      if (seal) store.seal();
      const { lines } = store.read(0, 1000);
      expect(texts(lines)).toEqual(texts(readable.flatMap((seq) => batch(seq))));
      expect(dup).toBe(duplicates);
    });
  });

  it("a batch that arrives after sealing, even one from the gap, is appended, never dropped", async () => {
    await withStore((store) => {
      store.append(1, batch(1));
      store.append(3, batch(3));
      expect(store.seal()).toBe(2);
      expect(store.append(2, batch(2))).toEqual({ added: 2, duplicate: false });
      expect(store.append(4, batch(4))).toEqual({ added: 2, duplicate: false });
      expect(store.append(2, batch(2)).duplicate).toBe(true);
      expect(texts(store.read(0, 100).lines)).toEqual(
        texts([...batch(1), ...batch(3), ...batch(2), ...batch(4)]),
      );
    });
  });

  it("complete(lastSeq) holds once every batch up to lastSeq is readable, or after sealing", async () => {
    await withStore((store) => {
      expect(store.complete(0)).toBe(true);
      store.append(2, batch(2));
      expect(store.complete(2)).toBe(false);
      store.append(1, batch(1));
      expect(store.complete(2)).toBe(true);
      expect(store.complete(3)).toBe(false);
      store.seal();
      expect(store.complete(3)).toBe(true);
    });
  });

  it("pages by cursor never skip or repeat a line", async () => {
    await withStore((store) => {
      for (let seq = 1; seq <= 10; seq++) store.append(seq, batch(seq, 7));
      const seen: string[] = [];
      let cursor = 0;
      for (;;) {
        const page = store.read(cursor, 9);
        if (page.lines.length === 0) break;
        seen.push(...texts(page.lines));
        cursor = page.last;
      }
      expect(seen).toEqual(texts(Array.from({ length: 10 }, (_, i) => batch(i + 1, 7)).flat()));
      expect(store.count()).toBe(70);
    });
  });

  it("the platform's own lines are readable at once, after the readable runner lines", async () => {
    await withStore((store) => {
      store.append(1, batch(1));
      store.append(3, batch(3));
      store.appendSystem([{ ts: 5, line: "platform: build cancelled" }]);
      expect(texts(store.read(0, 10).lines)).toEqual([...texts(batch(1)), "platform: build cancelled"]);
    });
  });

  it("cuts a line longer than the limit and keeps it valid text", async () => {
    await withStore((store) => {
      store.append(1, [{ ts: 1, line: "é".repeat(MAX_LOG_LINE_BYTES) }]);
      const [line] = store.read(0, 1).lines;
      expect(new TextEncoder().encode(line?.line).length).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES + 3);
      expect(line?.line.endsWith("…")).toBe(true);
      expect(line?.line).not.toContain("\uFFFD");
    });
  });

  it("what was stored survives a new LogStore over the same storage (an eviction)", async () => {
    await withStore((store, storage) => {
      store.append(1, batch(1));
      store.append(3, batch(3));
      const again = new LogStore(storage);
      expect(again.append(3, batch(3)).duplicate).toBe(true);
      again.append(2, batch(2));
      expect(texts(again.read(0, 10).lines)).toEqual(texts([...batch(1), ...batch(2), ...batch(3)]));
    });
  });
});
