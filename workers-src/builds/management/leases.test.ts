import { describe, expect, it } from "vitest";
import {
  applyShrink,
  decideLease,
  dueToExpire,
  fairTargets,
  type LeaseRecord,
  reserveOf,
  starvedShards,
  targetsOf,
} from "./leases";

const NOW = 1_000_000;
const LIMITS = { capacity: 10, ttlMs: 30_000 };

function lease(index: number, change: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    shard: `shard-${index}-of-4`,
    index,
    count: 4,
    slots: 0,
    held: 0,
    demand: [],
    expiresAt: NOW + 10_000,
    expired: false,
    seq: 1,
    ...change,
  };
}

describe("fairTargets", () => {
  const cases: {
    why: string;
    capacity: number;
    demand: Record<string, number[]>;
    targets: Record<string, number>;
  }[] = [
    {
      why: "everything fits: each shard gets what it holds and wants",
      capacity: 10,
      demand: { a: [3, 1], b: [3] },
      targets: { a: 4, b: 3 },
    },
    {
      why: "every shard's accounts' first builds go before any account's second",
      capacity: 4,
      demand: { a: [1, 1, 1, 1], b: [3] },
      targets: { a: 1, b: 3 },
    },
    {
      why: "a level that does not fit is split by demand, the remainder to the largest fraction",
      capacity: 5,
      demand: { a: [6], b: [3], c: [1] },
      targets: { a: 3, b: 2, c: 0 },
    },
    {
      why: "one account holding every slot is owed only its first once another shard's account waits",
      capacity: 6,
      demand: { a: [1, 1, 1, 1, 1, 1, 1, 1], b: [1] },
      targets: { a: 5, b: 1 },
    },
    {
      why: "ties of fractions go to the shard given less before, then by name",
      capacity: 2,
      demand: { a: [1, 1], b: [0, 1], c: [0, 1] },
      targets: { a: 1, b: 1, c: 0 },
    },
    {
      why: "nothing wanted: nothing given",
      capacity: 10,
      demand: { a: [], b: [0, 0] },
      targets: { a: 0, b: 0 },
    },
  ];
  it.each(cases)("$why", ({ capacity, demand, targets }) => {
    const got = fairTargets(
      capacity,
      Object.entries(demand).map(([shard, d]) => ({ shard, demand: d })),
    );
    expect(Object.fromEntries(got)).toEqual(targets);
    expect([...got.values()].reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(capacity);
  });

  it("shares out what expired leases' running builds leave", () => {
    const records = [
      lease(0, { expired: true, held: 4 }),
      lease(1, { demand: [8] }),
      lease(2, { demand: [4] }),
    ];
    expect(Object.fromEntries(targetsOf(records, LIMITS.capacity))).toEqual({
      "shard-1-of-4": 4,
      "shard-2-of-4": 2,
    });
  });
});

describe("decideLease", () => {
  it("grants a lone shard what it holds and wants, up to the capacity, for the lease's length", () => {
    const { grant, records, shrinks, nextSeq } = decideLease(
      [],
      { index: 0, count: 4, held: 2, demand: [7, 5] },
      NOW,
      LIMITS,
      7,
    );
    expect(grant).toEqual({ slots: 10, expiresAt: NOW + 30_000, seq: 7 });
    expect(records).toEqual([
      lease(0, { slots: 10, held: 2, demand: [7, 5], expiresAt: NOW + 30_000, seq: 7 }),
    ]);
    expect(shrinks).toEqual([]);
    expect(nextSeq).toBe(8);
  });

  it("grants no more than the others leave, and tells a shard above its fair share to shrink", () => {
    // Shard 1 holds 4 builds of one account and wants 5 more of it: its 5th to 9th slots.
    const others = [lease(1, { slots: 9, held: 4, demand: [1, 1, 1, 1, 1, 1, 1, 1, 1] })];
    const { grant, shrinks } = decideLease(
      others,
      { index: 0, count: 4, held: 0, demand: [3] },
      NOW,
      LIMITS,
      2,
    );
    // Fair: shard 0's three first builds before shard 1's later ones; but shard 1 may fill its 9 until it
    // hears, so shard 0 gets the one slot left now.
    expect(grant.slots).toBe(1);
    expect(shrinks).toEqual([{ shard: "shard-1-of-4", slots: 7, seq: 3 }]);
  });

  it("counts an expired lease only for the builds its shard still holds", () => {
    const others = [lease(1, { slots: 8, held: 3, expired: true, expiresAt: NOW - 1 })];
    const { grant, shrinks } = decideLease(
      others,
      { index: 0, count: 4, held: 0, demand: [9] },
      NOW,
      LIMITS,
      2,
    );
    expect(grant.slots).toBe(7);
    expect(shrinks).toEqual([]);
  });

  it("grants nothing above what is left when others hold it all; the shard admits nothing more", () => {
    const others = [lease(1, { slots: 8, held: 8, demand: [8] })];
    const { grant } = decideLease(others, { index: 0, count: 4, held: 3, demand: [3] }, NOW, LIMITS, 2);
    expect(grant.slots).toBe(2);
  });

  it("keeps the reservations within the capacity over any sequence of requests", () => {
    let records: LeaseRecord[] = [];
    let seq = 1;
    const requests = [
      [0, 0, [10]],
      [1, 0, [2]],
      [2, 0, [1, 1, 1]],
      [0, 6, [8, 4]],
      [3, 0, [6]],
      [1, 2, [2]],
      [2, 1, [3, 3]],
    ] as const;
    for (const [index, held, demand] of requests) {
      const own = records.find((r) => r.index === index);
      // A shard never holds more than its lease let it.
      const holds = Math.min(held, own?.slots ?? 0);
      const decided = decideLease(
        records,
        { index, count: 4, held: holds, demand: [...demand] },
        NOW,
        LIMITS,
        seq,
      );
      seq = decided.nextSeq;
      records = decided.records;
      for (const shrink of decided.shrinks) {
        const target = records.find((r) => r.shard === shrink.shard)!;
        records = applyShrink(records, shrink, { applied: true, held: Math.min(target.held, target.slots) });
      }
      expect(records.reduce((sum, r) => sum + reserveOf(r), 0)).toBeLessThanOrEqual(LIMITS.capacity);
    }
  });
});

describe("applyShrink", () => {
  const record = lease(1, { slots: 9, held: 9, seq: 4 });
  it.each([
    {
      why: "applied: slots and held as the shard says",
      shrinkSeq: 5,
      applied: true,
      slots: 6,
      held: 7,
      seq: 5,
    },
    { why: "the lease changed since: ignored", shrinkSeq: 4, applied: true, slots: 9, held: 9, seq: 4 },
    { why: "the shard could not apply it: ignored", shrinkSeq: 5, applied: false, slots: 9, held: 9, seq: 4 },
  ])("$why", ({ shrinkSeq, applied, slots, held, seq }) => {
    const [after] = applyShrink(
      [record],
      { shard: record.shard, slots: 6, seq: shrinkSeq },
      { applied, held: 7 },
    );
    expect(after).toMatchObject({ slots, held, seq });
    expect(reserveOf(after!)).toBe(Math.max(slots, held));
  });
});

describe("expiry and starved shards", () => {
  it("finds the live leases past their end", () => {
    const records = [
      lease(0, { expiresAt: NOW }),
      lease(1, { expiresAt: NOW + 1 }),
      lease(2, { expiresAt: NOW - 5, expired: true }),
    ];
    expect(dueToExpire(records, NOW).map((r) => r.index)).toEqual([0]);
  });

  it("names the shards that want more than they hold once there is room, and none while there is not", () => {
    const full = [lease(0, { slots: 10, held: 10, demand: [5, 5, 3] }), lease(1, { slots: 0, demand: [2] })];
    expect(starvedShards(full, 10)).toEqual([]);
    const freed = [lease(0, { slots: 7, held: 7, demand: [7] }), lease(1, { slots: 0, demand: [2] })];
    expect(starvedShards(freed, 10)).toEqual(["shard-1-of-4"]);
    const expired = [lease(0, { slots: 10, held: 0, expired: true }), lease(1, { slots: 0, demand: [2] })];
    expect(starvedShards(expired, 10)).toEqual(["shard-1-of-4"]);
  });
});
