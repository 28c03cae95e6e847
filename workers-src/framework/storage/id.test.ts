import { describe, expect, it } from "vitest";
import { sortableId } from "./id.js";

describe("sortableId", () => {
  it("writes the time first, so ids of later milliseconds sort later", () => {
    const earlier = sortableId(Date.UTC(2026, 0, 1));
    const later = sortableId(Date.UTC(2026, 0, 1) + 1);
    expect(earlier).toHaveLength(26);
    expect(earlier.slice(0, 10)).toBe("01KDVDNA00");
    expect(later > earlier).toBe(true);
  });

  it("counts up within one millisecond, and never goes back when the clock does", () => {
    const at = Date.UTC(2030, 5, 1);
    const ids = Array.from({ length: 1000 }, () => sortableId(at));
    ids.push(sortableId(at - 10_000));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toStrictEqual(ids);
  });
});
