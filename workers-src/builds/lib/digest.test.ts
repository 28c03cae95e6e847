import { describe, expect, it } from "vitest";
import { constantTimeEqualText, randomHex, sha256Hex, toHex } from "./digest";

describe("digest helpers", () => {
  it.each([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ])("sha256Hex(%j) is the SHA-256 test vector", async (text, hex) =>
    expect(await sha256Hex(text)).toBe(hex),
  );

  it("toHex pads every byte to two digits", () => expect(toHex(new Uint8Array([0, 9, 255]))).toBe("0009ff"));

  it("randomHex gives the asked length, different each time", () => {
    const a = randomHex(32);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(randomHex(32)).not.toBe(a);
  });

  it.each([
    ["same", "same", true],
    ["same", "samf", false],
    ["same", "sam", false],
    ["sam", "same", false],
    ["", "", true],
    ["é", "e", false],
  ])("constantTimeEqualText(%j, %j) is %s", (a, b, equal) => expect(constantTimeEqualText(a, b)).toBe(equal));
});
