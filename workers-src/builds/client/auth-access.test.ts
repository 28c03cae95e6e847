import { beforeAll, describe, expect, it } from "vitest";
import { newKey, sign, type TestKey } from "./access-testing";
import { accessConfigOf, authenticateRequest } from "./auth";
import { AuthError } from "./envelope";

const TEAM = "https://auth-team.cloudflareaccess.com";
const AUD = "d2b7a41e9f0c5b3a8e6f1d4c7b2a9e0f3c6d1b8a5e2f7c4d9b0a3e6f1c8d5b2a";
const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const SECONDS = Math.floor(NOW / 1000);
const ENV = {
  API_JWT_SECRET: "auth-access-test-secret-0123456789abcdef",
  ACCESS_TEAM_DOMAIN: TEAM,
  ACCESS_AUDIENCE: AUD,
  ACCESS_ACCOUNT_CLAIM: "custom.account",
};

let key: TestKey;
let fetches = 0;
/** The team domain's key server. */
const fetcher = async (url: string) => {
  fetches++;
  expect(url).toBe(`${TEAM}/cdn-cgi/access/certs`);
  return Response.json({ keys: [{ ...key.publicJwk, kid: key.kid, alg: "RS256", use: "sig" }] });
};
const noLookup = async () => {
  throw new Error("no API token lookup expected");
};
const accessToken = (claims: Record<string, unknown> = {}) =>
  sign(key, {
    aud: [AUD],
    iss: TEAM,
    sub: "7335d417-61da-459d-899c-0a01c76a2f94",
    email: "dev@example.com",
    iat: SECONDS,
    nbf: SECONDS,
    exp: SECONDS + 300,
    custom: { account: "acct_access" },
    ...claims,
  });

beforeAll(async () => {
  key = await newKey("auth-access-key");
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AuthError);
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("sign-in through Cloudflare Access", () => {
  it("a person signed in through Access is the account of the configured claim, scope write", async () => {
    const principal = await authenticateRequest({ accessAssertion: await accessToken() }, ENV, noLookup, {
      fetcher,
      now: NOW,
    });
    expect(principal).toEqual({ accountId: "acct_access", scope: "write", tokenId: null });
  });

  it.each([
    ["another audience", { aud: ["another-app"] }, /\(audience\)/],
    ["another team", { iss: "https://elsewhere.cloudflareaccess.com" }, /\(issuer\)/],
    ["an expired token", { exp: SECONDS - 3600 }, /\(expired\)/],
    ["no account claim", { custom: {} }, /\(account\)/],
  ])("refuses %s with 401 and the reason", async (_, claims, reason) => {
    const message = await refusal(
      authenticateRequest({ accessAssertion: await accessToken(claims) }, ENV, noLookup, {
        fetcher,
        now: NOW,
      }),
    );
    expect(message).toMatch(/^Cloudflare Access token refused /);
    expect(message).toMatch(reason);
  });

  it("an Authorization header wins over the Access assertion (API clients behind Access)", async () => {
    const message = await refusal(
      authenticateRequest(
        { authorization: "Bearer not-a-jwt", accessAssertion: await accessToken() },
        ENV,
        noLookup,
        { fetcher, now: NOW },
      ),
    );
    expect(message).toBe("invalid token");
  });

  it("with neither, says how to sign in", async () => {
    expect(await refusal(authenticateRequest({}, ENV, noLookup, { fetcher, now: NOW }))).toBe(
      "not signed in: sign in through Cloudflare Access, or send Authorization: Bearer <token>",
    );
  });

  it("ignores the assertion header where Access is not configured (anyone can send that header)", async () => {
    const { ACCESS_TEAM_DOMAIN: _, ...withoutAccess } = ENV;
    const message = await refusal(
      authenticateRequest({ accessAssertion: await accessToken() }, withoutAccess, noLookup, { now: NOW }),
    );
    expect(message).toBe("missing Authorization header: send Authorization: Bearer <token>");
  });

  it("fetches the team domain's keys once for many requests", async () => {
    const before = fetches;
    for (let i = 0; i < 3; i++) {
      await authenticateRequest({ accessAssertion: await accessToken() }, ENV, noLookup, {
        fetcher,
        now: NOW,
      });
    }
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});

describe("accessConfigOf", () => {
  it.each([
    ["not configured", { API_JWT_SECRET: "x" }, undefined],
    [
      "the default claim",
      { ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUDIENCE: AUD },
      { teamDomain: TEAM, audience: AUD, accountClaim: "custom.account" },
    ],
    [
      "groups mapped to accounts",
      {
        ACCESS_TEAM_DOMAIN: `${TEAM}/`,
        ACCESS_AUDIENCE: AUD,
        ACCESS_ACCOUNT_CLAIM: "groups",
        ACCESS_ACCOUNT_GROUPS: '{"builders":"acct_1"}',
      },
      { teamDomain: TEAM, audience: AUD, accountClaim: "groups", accountGroups: { builders: "acct_1" } },
    ],
  ])("%s", (_, env, expected) => {
    expect(accessConfigOf(env)).toEqual(expected);
  });

  it.each([
    ["an http team domain", { ACCESS_TEAM_DOMAIN: "http://team.example", ACCESS_AUDIENCE: AUD }, /https/],
    ["no audience", { ACCESS_TEAM_DOMAIN: TEAM }, /audience/],
    [
      "groups that are not JSON",
      { ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUDIENCE: AUD, ACCESS_ACCOUNT_GROUPS: "{" },
      /not JSON/,
    ],
  ])("refuses %s", (_, env, message) => {
    expect(() => accessConfigOf(env)).toThrow(message);
  });
});
