import { describe, expect, it } from "vitest";
import type { PurgeItem } from "../shared/management-api";
import { type PurgeQueue, runPurges } from "./purges";

const build = (n: number): PurgeItem => ({
  kind: "build",
  target: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
});
const cache: PurgeItem = { kind: "cache", target: "11111111-1111-4111-8111-111111111111" };

/** A queue that records what the loop does to the table. */
function recordingQueue() {
  const removed: PurgeItem[] = [];
  const failures: [PurgeItem, string][] = [];
  const queue: PurgeQueue = {
    oldest: async () => [],
    remove: async (items) => {
      removed.push(...items);
    },
    noteFailure: async (item, error) => {
      failures.push([item, error]);
    },
  };
  return { queue, removed, failures };
}

describe("runPurges", () => {
  it("removes the rows of every purge that succeeded, across batches", async () => {
    const items = [...Array.from({ length: 60 }, (_, i) => build(i)), cache];
    const { queue, removed, failures } = recordingQueue();
    const purged: PurgeItem[] = [];
    const result = await runPurges(
      async (item) => {
        purged.push(item);
      },
      queue,
      items,
    );
    expect(result).toEqual({ done: 61, failed: 0 });
    expect(purged).toEqual(items);
    expect(removed).toEqual(items);
    expect(failures).toEqual([]);
  });

  it("attempts every item whatever the others do, keeps the failed rows and notes why", async () => {
    const items = [build(1), build(2), build(3), cache];
    const { queue, removed, failures } = recordingQueue();
    const attempted: string[] = [];
    const result = await runPurges(
      async (item) => {
        attempted.push(item.target);
        if (item.target === build(2).target)
          throw new Error("build 2 is running: cancel it before purging its log");
        if (item.kind === "cache") throw "R2 unavailable";
      },
      queue,
      items,
    );
    expect(result).toEqual({ done: 2, failed: 2 });
    expect(attempted).toEqual(items.map((i) => i.target));
    expect(removed).toEqual([build(1), build(3)]);
    expect(failures).toEqual([
      [build(2), "build 2 is running: cancel it before purging its log"],
      [cache, "R2 unavailable"],
    ]);
  });

  it("touches the table not at all when there is nothing to purge", async () => {
    const { queue, removed, failures } = recordingQueue();
    expect(await runPurges(async () => {}, queue, [])).toEqual({ done: 0, failed: 0 });
    expect([removed, failures]).toEqual([[], []]);
  });
});
