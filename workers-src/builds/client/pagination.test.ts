import { describe, expect, it } from "vitest";
import { ValidationError } from "./envelope";
import { decodeCursor, encodeCursor, pageOf } from "./pagination";

const ID = "0b9e0c5e-8f34-4c1e-9f7a-3d2b1a0c9e8f";
const AT = "2026-07-02T10:11:12.345678Z";

function b64url(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

describe("page cursors", () => {
  it("round-trip the creation time at microsecond precision and the id", () => {
    const encoded = encodeCursor({ createdAt: AT, id: ID });
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(encoded)).toEqual({ createdAt: AT, id: ID });
  });

  it.each([
    ["empty", ""],
    ["not base64url", "abc+/="],
    ["padding", `${encodeCursor({ createdAt: AT, id: ID })}=`],
    ["no separator", b64url(`${AT}${ID}`)],
    ["an extra part", b64url(`${AT}|${ID}|x`)],
    ["a time without microseconds", b64url(`2026-07-02T10:11:12.345Z|${ID}`)],
    ["a day that does not exist", b64url(`2026-02-30T10:11:12.345678Z|${ID}`)],
    ["an hour that does not exist", b64url(`2026-02-03T24:11:12.345678Z|${ID}`)],
    ["SQL in the time", b64url(`2026-02-03T10:11:12.345678Z' OR 1=1|${ID}`)],
    ["an id that is not a UUID", b64url(`${AT}|not-a-uuid`)],
    ["an upper-case id", b64url(`${AT}|${ID.toUpperCase()}`)],
    ["a huge value", "A".repeat(500)],
  ])("refuse a cursor with %s as a validation error", (_, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(ValidationError);
    try {
      decodeCursor(cursor);
    } catch (err) {
      expect((err as ValidationError).errors[0]!.message).toMatch(/^cursor: /);
    }
  });

  it("detect a flipped character", () => {
    const encoded = encodeCursor({ createdAt: AT, id: ID });
    const tampered = `${encoded.slice(0, 5)}${encoded[5] === "A" ? "B" : "A"}${encoded.slice(6)}`;
    expect(() => decodeCursor(tampered)).toThrow(ValidationError);
  });
});

describe("pageOf", () => {
  const rows = [1, 2, 3].map((n) => ({ n, at: `2026-07-02T10:11:1${n}.000000Z`, id: ID }));
  const cursorOf = (r: (typeof rows)[number]) => ({ createdAt: r.at, id: r.id });

  it("has no next cursor when the query found no more than a page", () => {
    expect(pageOf(rows, 3, cursorOf)).toEqual({ items: rows, cursor: null });
    expect(pageOf([], 3, cursorOf)).toEqual({ items: [], cursor: null });
  });

  it("cuts the extra row and points the cursor at the page's last item", () => {
    const page = pageOf(rows, 2, cursorOf);
    expect(page.items.map((r) => r.n)).toEqual([1, 2]);
    expect(decodeCursor(page.cursor!)).toEqual({ createdAt: rows[1]!.at, id: ID });
  });
});
