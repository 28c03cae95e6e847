import { describe, expect, it } from "vitest";
import {
  ALL_ACCOUNTS,
  accountHash,
  admitParams,
  parseAdmission,
  parseShardName,
  shardName,
  shardOfHash,
  shardRange,
} from "./admission";

/**
 * `account_hash` of these ids as PostgreSQL computes it (migration 0005); test/builds/admission.test.ts
 * checks the same pairs against the database, so that the Worker and the SQL agree on every shard.
 */
const HASH_VECTORS: [string, number][] = [
  ["acct-1", 349352284],
  ["local-dev-account", 551620185],
  ["", -736260903],
  ["größe-ñ", -209094694],
];

describe("accountHash", () => {
  it.each(HASH_VECTORS)("hashes %j as PostgreSQL's account_hash does (%i)", async (id, hash) => {
    expect(await accountHash(id)).toBe(hash);
  });
});

describe("shard ranges", () => {
  it.each([1, 2, 3, 4, 7, 64])("%i shards cover every hash once, in order, without gaps", (count) => {
    const ranges = Array.from({ length: count }, (_, i) => shardRange(i, count));
    expect(ranges[0]!.lo).toBe(ALL_ACCOUNTS.lo);
    expect(ranges.at(-1)!.hi).toBe(ALL_ACCOUNTS.hi);
    for (let i = 1; i < count; i++) expect(ranges[i]!.lo).toBe(ranges[i - 1]!.hi + 1);
    for (const r of ranges) expect(r.hi).toBeGreaterThanOrEqual(r.lo);
  });

  it.each([
    [ALL_ACCOUNTS.lo, 4, 0],
    [-1, 4, 1],
    [0, 4, 2],
    [ALL_ACCOUNTS.hi, 4, 3],
    [-715_827_883, 3, 0],
    [-715_827_882, 3, 1],
    [123_456_789, 1, 0],
  ])("puts hash %i of %i shards in shard %i, whose range holds it", (hash, count, shard) => {
    expect(shardOfHash(hash, count)).toBe(shard);
    const range = shardRange(shard, count);
    expect(hash).toBeGreaterThanOrEqual(range.lo);
    expect(hash).toBeLessThanOrEqual(range.hi);
  });

  it.each([
    [0, 0, "shard count must be 1 or more (got 0)"],
    [2, 2, "shard index must be between 0 and 1 (got 2)"],
    [-1, 2, "shard index must be between 0 and 1 (got -1)"],
  ])("refuses shard %i of %i", (index, count, message) => {
    expect(() => shardRange(index, count)).toThrow(message);
  });
});

describe("shard names", () => {
  it.each([
    [0, 1, "global"],
    [0, 4, "shard-0-of-4"],
    [3, 4, "shard-3-of-4"],
  ])("names shard %i of %i %j and reads the name back", (index, count, name) => {
    expect(shardName(index, count)).toBe(name);
    expect(parseShardName(name)).toEqual({ index, count });
  });

  it.each(["shard-4-of-4", "shard-1", "scheduler", undefined])("reads %j as no shard", (name) => {
    expect(parseShardName(name)).toBeUndefined();
  });
});

describe("admitParams and parseAdmission", () => {
  it("orders the statement's parameters and never passes a negative ceiling or cap", () => {
    expect(admitParams({ perAccount: 6, ceiling: -3, range: { lo: -5, hi: 5 }, demandCap: -1 })).toEqual([
      6, 0, -5, 5, 0,
    ]);
  });

  it("reads admitted builds, what was held, and the waiting and wanted builds by slot (missing slots are 0)", () => {
    expect(
      parseAdmission([
        { kind: "admitted", build_uuid: "a", slot: null, n: null },
        { kind: "waiting", build_uuid: null, slot: 3, n: 4 },
        { kind: "admitted", build_uuid: "b", slot: null, n: null },
        { kind: "waiting", build_uuid: null, slot: 1, n: 2 },
        { kind: "demand", build_uuid: null, slot: 2, n: 5 },
        { kind: "held", build_uuid: null, slot: null, n: 7 },
      ]),
    ).toEqual({ admitted: ["a", "b"], held: 7, waiting: [2, 0, 4], demand: [0, 5] });
  });
});
