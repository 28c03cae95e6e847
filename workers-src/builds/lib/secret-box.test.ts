import { describe, expect, it } from "vitest";
import { importSecretKey, openSecret, sealSecret } from "./secret-box";

// 32 bytes 0x00..0x1f, and the same bytes in the URL alphabet without padding.
const KEY_STD = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_OTHER = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => 255 - i)));
const AAD = "trigger:7c1e2d/variable:NPM_TOKEN";

const fromB64Url = (s: string): Uint8Array =>
  Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const toB64Url = (b: Uint8Array): string =>
  btoa(String.fromCharCode(...b))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** The sealed string with the bytes of one part changed by `edit`, re-encoded canonically. */
function rewrite(sealed: string, part: 1 | 2, edit: (bytes: Uint8Array) => Uint8Array): string {
  const parts = sealed.split(".");
  parts[part] = toB64Url(edit(fromB64Url(parts[part]!)));
  return parts.join(".");
}

const flipBit =
  (index: number) =>
  (bytes: Uint8Array): Uint8Array => {
    const copy = bytes.slice();
    copy[index < 0 ? copy.length + index : index]! ^= 0x01;
    return copy;
  };

describe("importSecretKey", () => {
  it.each([
    { name: "standard base64 with padding", material: KEY_STD },
    { name: "standard base64 without padding", material: KEY_STD.replace(/=$/, "") },
    { name: "the URL alphabet", material: KEY_OTHER.replace(/\+/g, "-").replace(/\//g, "_") },
    { name: "surrounding whitespace, as a secret file may have", material: `${KEY_STD}\n` },
  ])("accepts $name", async ({ material }) => {
    const key = await importSecretKey(material);
    expect(key.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    expect(key.extractable).toBe(false);
  });

  it("the URL alphabet and the standard alphabet give the same key", async () => {
    const sealed = await sealSecret(await importSecretKey(KEY_OTHER), "v", AAD);
    const urlKey = await importSecretKey(
      KEY_OTHER.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
    );
    expect(await openSecret(urlKey, sealed, AAD)).toBe("v");
  });

  it.each([
    { name: "16 bytes (AES-128)", material: btoa("x".repeat(16)), message: "(got 16 bytes)" },
    { name: "31 bytes", material: btoa("x".repeat(31)), message: "(got 31 bytes)" },
    { name: "33 bytes", material: btoa("x".repeat(33)), message: "(got 33 bytes)" },
    { name: "64 bytes", material: btoa("x".repeat(64)), message: "(got 64 bytes)" },
    { name: "an empty string", material: "", message: "(got 0 bytes)" },
    {
      name: "a 32-character passphrase, not base64 of 32 bytes",
      material: "a".repeat(32),
      message: "(got 24 bytes)",
    },
    { name: "characters outside base64", material: `${KEY_STD.slice(0, 40)}!!!`, message: "not base64" },
    { name: "a length no base64 has", material: "AAAAA", message: "not base64" },
  ])("refuses $name", async ({ material, message }) => {
    await expect(importSecretKey(material)).rejects.toThrow("build variables key must be 32 bytes of base64");
    await expect(importSecretKey(material)).rejects.toThrow(message);
  });
});

describe("sealSecret / openSecret", () => {
  it.each([
    { name: "ASCII", plaintext: "npm_abcdef0123456789" },
    { name: "the empty string", plaintext: "" },
    { name: "unicode beyond the BMP", plaintext: "pässwörd 🔑 秘密" },
    { name: "5 KB, the largest value allowed", plaintext: "k".repeat(5 * 1024) },
    { name: "text with dots and newlines", plaintext: "a.b.c\n-----BEGIN KEY-----\n" },
  ])("round-trips $name", async ({ plaintext }) => {
    const key = await importSecretKey(KEY_STD);
    const sealed = await sealSecret(key, plaintext, AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain(plaintext || "\0");
    expect(await openSecret(key, sealed, AAD)).toBe(plaintext);
  });

  it("two seals of the same value differ, by their IV", async () => {
    const key = await importSecretKey(KEY_STD);
    const [a, b] = [await sealSecret(key, "same", AAD), await sealSecret(key, "same", AAD)];
    expect(a).not.toBe(b);
    expect(a.split(".")[1]).not.toBe(b.split(".")[1]);
  });

  it.each([
    { name: "a flipped bit in the ciphertext", tamper: (s: string) => rewrite(s, 2, flipBit(0)) },
    { name: "a flipped bit in the tag", tamper: (s: string) => rewrite(s, 2, flipBit(-1)) },
    { name: "a flipped bit in the IV", tamper: (s: string) => rewrite(s, 1, flipBit(11)) },
    { name: "the tag cut short by one byte", tamper: (s: string) => rewrite(s, 2, (b) => b.slice(0, -1)) },
    {
      name: "a ciphertext replaced by zeros",
      tamper: (s: string) => rewrite(s, 2, (b) => new Uint8Array(b.length)),
    },
  ])("refuses $name", async ({ tamper }) => {
    const key = await importSecretKey(KEY_STD);
    const sealed = await sealSecret(key, "hunter2-secret", AAD);
    await expect(openSecret(key, tamper(sealed), AAD)).rejects.toThrow(/sealed secret does not open/);
  });

  it("refuses a value sealed for another variable (aad differs)", async () => {
    const key = await importSecretKey(KEY_STD);
    const sealed = await sealSecret(key, "hunter2", AAD);
    await expect(openSecret(key, sealed, "trigger:7c1e2d/variable:OTHER")).rejects.toThrow(
      "sealed secret does not open: wrong key, sealed for another variable, or tampered with",
    );
  });

  it("refuses a value sealed with another key", async () => {
    const sealed = await sealSecret(await importSecretKey(KEY_STD), "hunter2", AAD);
    await expect(openSecret(await importSecretKey(KEY_OTHER), sealed, AAD)).rejects.toThrow(/does not open/);
  });

  it.each([
    { name: "an empty string", sealed: "" },
    { name: "plaintext stored by mistake", sealed: "hunter2" },
    { name: "another version", sealed: "v2.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA" },
    { name: "a missing part", sealed: "v1.AAAAAAAAAAAAAAAA" },
    { name: "an extra part", sealed: "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AA" },
    { name: "an IV of 11 bytes", sealed: "v1.AAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA" },
    { name: "an IV in the standard alphabet", sealed: "v1.AAAAAAAAAAAA+/+/.AAAAAAAAAAAAAAAAAAAAAA" },
    { name: "a padded IV", sealed: "v1.AAAAAAAAAAAAAAA=.AAAAAAAAAAAAAAAAAAAAAA" },
    { name: "a ciphertext shorter than the tag", sealed: "v1.AAAAAAAAAAAAAAAA.AAAAAAAA" },
    { name: "a non-canonical last character", sealed: "v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAB" },
  ])("refuses a malformed value: $name", async ({ sealed }) => {
    await expect(openSecret(await importSecretKey(KEY_STD), sealed, AAD)).rejects.toThrow(
      /sealed secret is malformed/,
    );
  });
});
