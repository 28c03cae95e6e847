import { describe, expect, it } from "vitest";
import { cloudflareApiToken, verifyCloudflareApiToken } from "./cloudflare-token";

describe("cloudflare API stand-in tokens", () => {
  it.each([
    ["the account's own token", "acct-a", "acct-a", true],
    ["another account's token", "acct-a", "acct-b", false],
    ["an account id that is a prefix", "acct", "acct-a", false],
  ])("%s verifies: %s", async (_, minted, checked, ok) => {
    const token = await cloudflareApiToken("s3cret", minted);
    expect(token).toMatch(/^cfl_[A-Za-z0-9_-]{43}$/);
    expect(await verifyCloudflareApiToken("s3cret", checked, token)).toBe(ok);
  });

  it.each([["cfl_"], [""], ["Bearer x"]])("refuses the malformed token %j", async (token) => {
    expect(await verifyCloudflareApiToken("s3cret", "acct-a", token)).toBe(false);
  });

  it("depends on the secret", async () => {
    const token = await cloudflareApiToken("one", "acct-a");
    expect(await verifyCloudflareApiToken("two", "acct-a", token)).toBe(false);
  });
});
