import { describe, expect, it } from "vitest";
import {
  expireR2Objects,
  expires,
  type ListableBucket,
  type LocalExpiryRule,
  lifecycleOf,
  sweep,
} from "./r2-lifecycle";

const DAY = 86_400;
const NOW = new Date(Date.UTC(2026, 10, 23, 12));
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY * 1000);

describe("lifecycleOf", () => {
  it.each([
    {
      why: "an age rule, as the R2Bucket component writes it",
      rules: [
        {
          id: "cache",
          enabled: true,
          conditions: { prefix: "c/" },
          deleteObjectsTransition: { condition: { type: "Age", maxAge: 7 * DAY } },
        },
      ],
      expected: { rules: [{ id: "cache", prefix: "c/", maxAgeSeconds: 7 * DAY }], ignored: [] },
    },
    {
      why: "a date rule, and no prefix meaning the whole bucket",
      rules: [
        { id: "d", deleteObjectsTransition: { condition: { type: "Date", date: "2026-12-01T00:00:00Z" } } },
      ],
      expected: {
        rules: [{ id: "d", prefix: "", deleteFrom: Date.parse("2026-12-01T00:00:00Z") }],
        ignored: [],
      },
    },
    {
      why: "a disabled rule does nothing",
      rules: [
        { id: "off", enabled: false, deleteObjectsTransition: { condition: { type: "Age", maxAge: DAY } } },
      ],
      expected: { rules: [], ignored: [] },
    },
    {
      why: "storage class transitions and multipart aborts are named as not emulated",
      rules: [
        {
          id: "ia",
          storageClassTransitions: [
            { condition: { type: "Age", maxAge: DAY }, storageClass: "InfrequentAccess" },
          ],
          abortMultipartUploadsTransition: { condition: { type: "Age", maxAge: DAY } },
        },
      ],
      expected: { rules: [], ignored: ["ia: storage class transitions", "ia: multipart upload aborts"] },
    },
    {
      why: "a malformed condition is named, not guessed",
      rules: [{ id: "bad", deleteObjectsTransition: { condition: { type: "Age" } } }],
      expected: { rules: [], ignored: ["bad: a delete condition of type Age"] },
    },
    { why: "no rules at all", rules: undefined, expected: { rules: [], ignored: [] } },
  ])("$why", ({ rules, expected }) => {
    expect(lifecycleOf("bucket", rules)).toEqual({ bucketName: "bucket", ...expected });
  });
});

describe("expires", () => {
  const age: LocalExpiryRule = { id: "a", prefix: "tmp/", maxAgeSeconds: 7 * DAY };
  const date: LocalExpiryRule = { id: "d", prefix: "", deleteFrom: NOW.getTime() };
  it.each([
    { rule: age, key: "tmp/x", uploaded: daysAgo(7), expected: true, why: "exactly the age" },
    { rule: age, key: "tmp/x", uploaded: daysAgo(6.9), expected: false, why: "younger than the age" },
    { rule: age, key: "keep/x", uploaded: daysAgo(30), expected: false, why: "outside the prefix" },
    { rule: date, key: "any", uploaded: daysAgo(0), expected: true, why: "from the date on" },
    {
      rule: { ...date, deleteFrom: NOW.getTime() + 1 },
      key: "any",
      uploaded: daysAgo(99),
      expected: false,
      why: "before the date",
    },
  ])("$why → $expected", ({ rule, key, uploaded, expected }) => {
    expect(expires(rule, key, uploaded, NOW)).toBe(expected);
  });
});

/** An in-memory bucket that pages its listing two keys at a time. */
function fakeBucket(objects: Record<string, Date>): ListableBucket & { keys(): string[] } {
  const store = new Map(Object.entries(objects));
  return {
    keys: () => [...store.keys()].sort(),
    async list({ prefix = "", cursor }) {
      const keys = [...store.keys()].filter((k) => k.startsWith(prefix)).sort();
      const from = cursor ? Number(cursor) : 0;
      const page = keys.slice(from, from + 2);
      const truncated = from + 2 < keys.length;
      return {
        objects: page.map((key) => ({ key, uploaded: store.get(key)! })),
        truncated,
        ...(truncated ? { cursor: String(from + 2) } : {}),
      };
    },
    async delete(keys) {
      for (const k of keys) store.delete(k);
    },
  };
}

describe("sweep", () => {
  it("deletes what any rule expires, across list pages, and keeps the rest", async () => {
    const bucket = fakeBucket({
      "tmp/1": daysAgo(10),
      "tmp/2": daysAgo(1),
      "tmp/3": daysAgo(8),
      "tmp/4": daysAgo(9),
      "logs/1": daysAgo(40),
      "logs/2": daysAgo(2),
      "keep/1": daysAgo(400),
    });
    const lifecycle = lifecycleOf("b", [
      {
        id: "tmp",
        conditions: { prefix: "tmp/" },
        deleteObjectsTransition: { condition: { type: "Age", maxAge: 7 * DAY } },
      },
      {
        id: "logs",
        conditions: { prefix: "logs/" },
        deleteObjectsTransition: { condition: { type: "Age", maxAge: 30 * DAY } },
      },
    ]);
    expect((await sweep(bucket, lifecycle, NOW)).sort()).toEqual(["logs/1", "tmp/1", "tmp/3", "tmp/4"]);
    expect(bucket.keys()).toEqual(["keep/1", "logs/2", "tmp/2"]);
    expect(await sweep(bucket, lifecycle, NOW)).toEqual([]);
  });

  it("goes through the first Worker that binds each bucket, and skips a bucket no Worker binds", async () => {
    const bucket = fakeBucket({ old: daysAgo(2) });
    const asked: string[] = [];
    const results = await expireR2Objects(
      {
        r2Lifecycles: [
          lifecycleOf("cache", [
            { id: "all", deleteObjectsTransition: { condition: { type: "Age", maxAge: DAY } } },
          ]),
          lifecycleOf("unbound", [
            { id: "x", deleteObjectsTransition: { condition: { type: "Age", maxAge: DAY } } },
          ]),
        ],
        workers: [
          { name: "api", r2Buckets: {} },
          { name: "builder", r2Buckets: { CACHE: "cache" } },
        ],
      },
      async (binding, worker) => {
        asked.push(`${worker}.${binding}`);
        return bucket;
      },
      NOW,
    );
    expect(asked).toEqual(["builder.CACHE"]);
    expect(results).toEqual([{ bucketName: "cache", deleted: ["old"] }]);
  });
});
