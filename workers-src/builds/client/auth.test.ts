import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { authenticate } from "./auth";
import { AuthError } from "./envelope";

const SECRET = "test-secret-of-the-client-worker";
const now = () => Math.floor(Date.now() / 1000);

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function reason(header: string | undefined): Promise<string> {
  try {
    await authenticate(header, SECRET);
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).errors[0]!.message;
  }
  throw new Error("the token was accepted");
}

describe("authenticate", () => {
  it("answers the account of a valid HS256 token", async () => {
    const token = await sign({ sub: "acct_1", exp: now() + 60 }, SECRET, "HS256");
    expect(await authenticate(`Bearer ${token}`, SECRET)).toBe("acct_1");
    expect(await authenticate(`bearer  ${token}`, SECRET)).toBe("acct_1");
  });

  it("accepts a token whose nbf has passed", async () => {
    const token = await sign({ sub: "a", exp: now() + 60, nbf: now() - 5 }, SECRET, "HS256");
    expect(await authenticate(`Bearer ${token}`, SECRET)).toBe("a");
  });

  it.each([
    ["no header", async () => undefined, /^missing Authorization header/],
    ["another scheme", async () => "Basic dXNlcjpwdw==", /not a Bearer token/],
    ["an expired token", async () => sign({ sub: "a", exp: now() - 1 }, SECRET, "HS256"), /^token expired$/],
    [
      "a token not yet valid",
      async () => sign({ sub: "a", exp: now() + 60, nbf: now() + 60 }, SECRET, "HS256"),
      /nbf/,
    ],
    ["a token without exp", async () => sign({ sub: "a" }, SECRET, "HS256"), /no exp claim/],
    [
      "a wrong key",
      async () => sign({ sub: "a", exp: now() + 60 }, "another-secret", "HS256"),
      /^invalid token$/,
    ],
    ["HS512", async () => sign({ sub: "a", exp: now() + 60 }, SECRET, "HS512"), /^invalid token$/],
    [
      "alg none",
      async () => `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "a", exp: now() + 60 })}.`,
      /invalid token|not a Bearer/,
    ],
    ["garbage", async () => "a.b.c", /^invalid token$/],
    ["no sub", async () => sign({ exp: now() + 60 }, SECRET, "HS256"), /sub must be an account id/],
    ["a sub with a slash", async () => sign({ sub: "a/b", exp: now() + 60 }, SECRET, "HS256"), /sub must be/],
    [
      "a sub too long",
      async () => sign({ sub: "a".repeat(65), exp: now() + 60 }, SECRET, "HS256"),
      /sub must be/,
    ],
    [
      "a numeric sub",
      async () => sign({ sub: 42 as unknown as string, exp: now() + 60 }, SECRET, "HS256"),
      /sub must be/,
    ],
  ])("refuses %s", async (_, make, message) => {
    const token = await make();
    const header = token === undefined ? undefined : token.includes(" ") ? token : `Bearer ${token}`;
    expect(await reason(header)).toMatch(message);
  });

  it("refuses a token signed with the right key but a tampered payload", async () => {
    const token = await sign({ sub: "a", exp: now() + 60 }, SECRET, "HS256");
    const [h, , s] = token.split(".");
    expect(await reason(`Bearer ${h}.${b64url({ sub: "b", exp: now() + 60 })}.${s}`)).toBe("invalid token");
  });

  it("refuses to verify anything with an empty key", async () => {
    const token = await sign({ sub: "a", exp: now() + 60 }, SECRET, "HS256");
    await expect(authenticate(`Bearer ${token}`, "")).rejects.toThrow(/API_JWT_SECRET is empty/);
  });
});
