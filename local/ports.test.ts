import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ephemeralRange, freePort, pickRange } from "./ports";

describe("pickRange", () => {
  it.each([
    { ephemeral: [32768, 60999], expected: [10000, 32767], why: "Linux default: below the range" },
    { ephemeral: [49152, 65535], expected: [10000, 49151], why: "IANA range: below it" },
    { ephemeral: [10500, 40000], expected: [40001, 65535], why: "low range: above it" },
    { ephemeral: [1024, 65000], expected: [10000, 65535], why: "no room on either side: anywhere" },
  ] as const)("$why", ({ ephemeral, expected }) => {
    expect(pickRange([...ephemeral])).toEqual(expected);
  });
});

describe("ephemeralRange", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ports-"));
  it.each([
    { content: "32768\t60999\n", expected: [32768, 60999] },
    { content: "1024 4999", expected: [1024, 4999] },
    { content: "garbage", expected: [32768, 60999] },
    { content: "5000 4000", expected: [32768, 60999] },
  ])("reads $content", ({ content, expected }) => {
    const file = path.join(dir, "range");
    writeFileSync(file, content);
    expect(ephemeralRange(file)).toEqual(expected);
  });
  it("falls back to Linux's default when the file is missing", () => {
    expect(ephemeralRange(path.join(dir, "missing"))).toEqual([32768, 60999]);
  });
});

describe("freePort", () => {
  it("picks outside the ephemeral range and never hands out the same port twice", async () => {
    const [low, high] = ephemeralRange();
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) expect(port < low || port > high).toBe(true);
  });

  it("skips a port that is taken", async () => {
    const taken = await freePort();
    const [from, to] = pickRange(ephemeralRange());
    const srv = createServer();
    const other = taken + 2 <= to ? taken + 1 : taken - 3;
    await new Promise<void>((resolve) => srv.listen(other, "127.0.0.1", resolve));
    try {
      // The first draw lands on the bound port, the second on the next one up.
      const draws = [other, other + 1].map((p) => (p - from + 0.5) / (to - from + 1));
      const port = await freePort(() => draws.shift() ?? 0.5);
      expect(port).toBe(other + 1);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
