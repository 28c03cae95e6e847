import { describe, expect, it } from "vitest";
import { MalformedJsonError, PayloadTooLargeError } from "./envelope";
import { formatPath, parseJsonBytes, readBodyBytes } from "./validation";

const bytes = (text: string) => new TextEncoder().encode(text);

function streamed(chunks: string[], headers: Record<string, string> = {}): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(bytes(c));
      controller.close();
    },
  });
  return new Request("https://x/", { method: "POST", body, headers });
}

describe("readBodyBytes", () => {
  it("reads a body up to the limit", async () => {
    expect(await readBodyBytes(streamed(["ab", "cd"]), 4)).toEqual(bytes("abcd"));
    expect(await readBodyBytes(new Request("https://x/"), 4)).toEqual(new Uint8Array(0));
  });

  it("refuses a declared length over the limit before reading", async () => {
    const request = new Request("https://x/", {
      method: "POST",
      body: "abcde",
      headers: { "Content-Length": "5" },
    });
    await expect(readBodyBytes(request, 4)).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it("refuses a body that grows past the limit whatever its Content-Length claims", async () => {
    await expect(readBodyBytes(streamed(["abc", "de"]), 4)).rejects.toBeInstanceOf(PayloadTooLargeError);
  });
});

describe("parseJsonBytes", () => {
  it("parses JSON, and reads an empty body as {}", () => {
    expect(parseJsonBytes(bytes('{"a":[1]}'))).toEqual({ a: [1] });
    expect(parseJsonBytes(new Uint8Array(0))).toEqual({});
  });

  it.each([["{"], ["{'a':1}"], ["nul"], ["{}x"]])("refuses %j as malformed", (text) => {
    expect(() => parseJsonBytes(bytes(text))).toThrow(MalformedJsonError);
  });

  it("refuses bytes that are not UTF-8", () => {
    expect(() => parseJsonBytes(new Uint8Array([0x22, 0xff, 0x22]))).toThrow(/not UTF-8/);
  });
});

describe("formatPath", () => {
  it.each([
    [[], "body"],
    [["name"], "name"],
    [["env_vars", 0, "value"], "env_vars[0].value"],
    [["path_includes", 3], "path_includes[3]"],
  ])("formats %j as %s", (path, expected) => {
    expect(formatPath("body", path)).toBe(expected);
  });
});
