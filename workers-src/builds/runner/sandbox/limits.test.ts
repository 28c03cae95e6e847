import { describe, expect, it } from "vitest";
import { limiter, pickUid } from "./index";
import { checkLimits, DEFAULT_LIMITS } from "./limits";

describe("checkLimits", () => {
  it("fills what is not given from the defaults", () => {
    expect(checkLimits({})).toEqual(DEFAULT_LIMITS);
    expect(checkLimits({ memoryMb: 512, cpus: 0.5 })).toEqual({
      ...DEFAULT_LIMITS,
      memoryMb: 512,
      cpus: 0.5,
    });
  });

  it.each([
    [{ memoryMb: 10 }, "sandbox limit memoryMb must be an integer between 64 and 1048576 (got 10)"],
    [{ pids: 1.5 }, "sandbox limit pids must be an integer between 16 and 1000000 (got 1.5)"],
    [{ cpus: 0 }, "sandbox limit cpus must be a number between 0.1 and 1024 (got 0)"],
    [
      { cpuSeconds: Number.NaN },
      "sandbox limit cpuSeconds must be an integer between 1 and 604800 (got NaN)",
    ],
    [{ diskMb: -1 }, "sandbox limit diskMb must be an integer between 64 and 16777216 (got -1)"],
  ])("refuses %j, naming the limit, its range and the value", (limits, message) => {
    expect(() => checkLimits(limits)).toThrow(message);
  });
});

describe("pickUid", () => {
  const cases: { name: string; taken: number[]; inUse: number[]; expected: number | RegExp }[] = [
    { name: "the first of the range when all are free", taken: [], inUse: [], expected: 1000 },
    { name: "skips uids of this runner's running builds", taken: [1000, 1001], inUse: [], expected: 1002 },
    { name: "skips uids any process on the host runs as", taken: [1000], inUse: [1001, 0], expected: 1002 },
    {
      name: "refuses when the range is used up",
      taken: [1000, 1001],
      inUse: [1002],
      expected: /no free build uid in 1000-1002/,
    },
  ];
  it.each(cases)("$name", ({ taken, inUse, expected }) => {
    const pick = () => pickUid(1000, 3, new Set(taken), new Set(inUse));
    if (expected instanceof RegExp) expect(pick).toThrow(expected);
    else expect(pick()).toBe(expected);
  });
});

describe("limiter", () => {
  it("runs at most its limit at once, the others in the order they came, and goes on after a failure", async () => {
    const run = limiter(2);
    let active = 0;
    let most = 0;
    const order: number[] = [];
    const task = (i: number) =>
      run(async () => {
        active++;
        most = Math.max(most, active);
        order.push(i);
        await new Promise((resolve) => setTimeout(resolve, 5));
        active--;
        if (i === 1) throw new Error("task 1 fails");
        return i;
      });
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(task));
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
  });
});
