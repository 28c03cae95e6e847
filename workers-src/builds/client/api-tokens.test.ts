/**
 * API tokens without a database: their format and hash, who a bearer value authenticates as (a JWT never
 * reaches the lookup), the scope each method and route needs, and the 403 the app answers before any route
 * runs. The routes and the lookup against PostgreSQL are tested end to end in test/builds/api-tokens.test.ts.
 */
import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { app } from "./app";
import {
  API_TOKEN,
  type ApiTokenLookup,
  type ApiTokenRecord,
  apiTokenDigest,
  authenticateBearer,
  newApiToken,
  requiredScope,
  SCOPE_ERROR_CODE,
  scopeCovers,
  scopeProblem,
} from "./auth";
import type { ClientEnv } from "./env";
import { AuthError, ERROR_CODES } from "./envelope";
import { createApiTokenSchema } from "./schemas";

const SECRET = "api-tokens-test-secret";
const now = () => Math.floor(Date.now() / 1000);
const jwt = (sub = "acct_1") => sign({ sub, exp: now() + 60 }, SECRET, "HS256");

/** A lookup that records every digest it was asked for and answers from `rows`. */
function fakeLookup(rows: Record<string, ApiTokenRecord> = {}) {
  const asked: string[] = [];
  const lookup: ApiTokenLookup = async (digest) => {
    asked.push(digest);
    return rows[digest];
  };
  return { lookup, asked };
}

async function refusal(header: string | undefined, lookup: ApiTokenLookup): Promise<string> {
  try {
    await authenticateBearer(header, SECRET, lookup);
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).status).toBe(401);
    return (err as AuthError).errors[0]!.message;
  }
  throw new Error("the token was accepted");
}

describe("API token format", () => {
  it("is wpb_ and 32 random bytes as base64url, different every time", () => {
    const tokens = Array.from({ length: 200 }, newApiToken);
    for (const token of tokens) {
      expect(token).toMatch(API_TOKEN);
      expect(token).toHaveLength(4 + 43);
      const bytes = Uint8Array.from(atob(token.slice(4).replace(/-/g, "+").replace(/_/g, "/")), (c) =>
        c.charCodeAt(0),
      );
      expect(bytes).toHaveLength(32);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it("is hashed as the SHA-256 of the whole token, in hex", async () => {
    // echo -n wpb_AAA...A (43 A) | sha256sum
    expect(await apiTokenDigest(`wpb_${"A".repeat(43)}`)).toBe(
      "49320e2ca04622ba32b3ae734a4da491c44c9775cc6eebf2aa218b3d08a3cb67",
    );
    expect(await apiTokenDigest(`wpb_${"A".repeat(42)}B`)).not.toBe(
      "49320e2ca04622ba32b3ae734a4da491c44c9775cc6eebf2aa218b3d08a3cb67",
    );
  });
});

describe("authenticateBearer", () => {
  it("takes a JWT as scope write, without any lookup", async () => {
    const { lookup, asked } = fakeLookup();
    expect(await authenticateBearer(`Bearer ${await jwt()}`, SECRET, lookup)).toEqual({
      accountId: "acct_1",
      scope: "write",
      tokenId: null,
    });
    expect(await refusal(`Bearer ${await sign({ sub: "a", exp: now() - 1 }, SECRET)}`, lookup)).toBe(
      "token expired",
    );
    expect(await refusal("Bearer not.a.jwt", lookup)).toBe("invalid token");
    expect(asked).toEqual([]);
  });

  it("takes a live API token as its account and scope, looked up by its digest", async () => {
    const token = newApiToken();
    const digest = await apiTokenDigest(token);
    const { lookup, asked } = fakeLookup({
      [digest]: { id: "tok-1", account_id: "acct_2", scope: "read", revoked: false },
    });
    expect(await authenticateBearer(`Bearer ${token}`, SECRET, lookup)).toEqual({
      accountId: "acct_2",
      scope: "read",
      tokenId: "tok-1",
    });
    expect(asked).toEqual([digest]);
    expect(asked[0]).not.toContain(token.slice(4));
  });

  it.each([
    ["a revoked token", true, /^API token revoked$/],
    ["an unknown token", false, /^unknown API token$/],
  ])("refuses %s", async (_, known, message) => {
    const token = newApiToken();
    const { lookup } = fakeLookup(
      known
        ? { [await apiTokenDigest(token)]: { id: "t", account_id: "a", scope: "write", revoked: true } }
        : {},
    );
    expect(await refusal(`Bearer ${token}`, lookup)).toMatch(message);
  });

  it.each([
    ["too short", `wpb_${"a".repeat(42)}`],
    ["too long", `wpb_${"a".repeat(44)}`],
    ["with a dot", `wpb_${"a".repeat(42)}.`],
    ["the prefix alone", "wpb_"],
  ])("refuses a malformed API token (%s) without a lookup", async (_, token) => {
    const { lookup, asked } = fakeLookup();
    expect(await refusal(`Bearer ${token}`, lookup)).toMatch(/^malformed API token: expected wpb_/);
    expect(asked).toEqual([]);
  });

  it("refuses a missing or non-Bearer header as before", async () => {
    const { lookup, asked } = fakeLookup();
    expect(await refusal(undefined, lookup)).toMatch(/^missing Authorization header/);
    expect(await refusal(`Basic ${newApiToken()}`, lookup)).toMatch(/not a Bearer token/);
    expect(asked).toEqual([]);
  });
});

describe("scopes", () => {
  it.each([
    ["GET", "read"],
    ["HEAD", "read"],
    ["get", "read"],
    ["POST", "write"],
    ["PUT", "write"],
    ["PATCH", "write"],
    ["DELETE", "write"],
    ["OPTIONS", "write"],
  ] as const)("%s needs %s", (method, scope) => {
    expect(requiredScope(method)).toBe(scope);
  });

  it("write covers read, read does not cover write", () => {
    expect(scopeCovers("write", "write")).toBe(true);
    expect(scopeCovers("write", "read")).toBe(true);
    expect(scopeCovers("read", "read")).toBe(true);
    expect(scopeCovers("read", "write")).toBe(false);
  });

  // Every route of the API, with what a read token may do there.
  const ROUTES: [string, string, boolean][] = [
    ["GET", "/api/workers", true],
    ["POST", "/api/workers", false],
    ["GET", "/api/workers/:worker", true],
    ["DELETE", "/api/workers/:worker", false],
    ["DELETE", "/api/workers/:worker/build_cache", false],
    ["POST", "/api/workers/:worker/triggers", false],
    ["GET", "/api/workers/:worker/triggers", true],
    ["GET", "/api/triggers/:trigger", true],
    ["PATCH", "/api/triggers/:trigger", false],
    ["DELETE", "/api/triggers/:trigger", false],
    ["POST", "/api/triggers/:trigger/builds", false],
    ["GET", "/api/workers/:worker/builds", true],
    ["GET", "/api/builds/:uuid", true],
    ["PUT", "/api/builds/:uuid/cancel", false],
    ["POST", "/api/builds/:uuid/retry", false],
    ["GET", "/api/builds/:uuid/logs", true],
    ["GET", "/api/builds/:uuid/logs/stream", true],
    ["POST", "/api/triggers/:trigger/deploy_hooks", false],
    ["GET", "/api/triggers/:trigger/deploy_hooks", true],
    ["DELETE", "/api/deploy_hooks/:id", false],
    ["POST", "/api/tokens", false],
    ["GET", "/api/tokens", true],
    ["DELETE", "/api/tokens/:id", false],
  ];

  it.each(ROUTES)("%s %s: read token allowed = %s; write token always", (method, route, readMay) => {
    expect(scopeProblem("write", method, route)).toBeNull();
    expect(scopeProblem("read", method, route)).toBe(
      readMay ? null : `this token's scope is read; ${method} ${route} needs write`,
    );
  });
});

describe("createApiTokenSchema", () => {
  it.each([
    [{ name: "ci", scope: "read" }, true],
    [{ name: "  ci  ", scope: "write" }, true],
    [{ name: "x".repeat(100), scope: "write" }, true],
    [{ name: "x".repeat(101), scope: "write" }, false],
    [{ name: "   ", scope: "read" }, false],
    [{ name: "ci", scope: "admin" }, false],
    [{ name: "ci" }, false],
    [{ name: "ci", scope: "read", token: "wpb_x" }, false],
  ])("%j valid: %s", (input, valid) => {
    expect(createApiTokenSchema.safeParse(input).success).toBe(valid);
  });
});

describe("client app with API tokens", () => {
  const env = {
    API_JWT_SECRET: SECRET,
    BUILD_VARIABLES_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))),
    RELEASE: "test-release",
    ALLOW_FILE_REPOS: "false",
    HYPERDRIVE: { connectionString: "postgresql://user:pw@127.0.0.1:1/platform" } as Hyperdrive,
    MANAGEMENT: {} as ClientEnv["MANAGEMENT"],
  } satisfies ClientEnv;

  it("answers a malformed API token 401 before touching the database", async () => {
    const res = await app.request(
      "/api/workers",
      { headers: { Authorization: `Bearer wpb_${"x".repeat(10)}` } },
      env,
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("WWW-Authenticate")).toBe("Bearer");
    const json = (await res.json()) as { success: boolean; errors: { code: number; message: string }[] };
    expect(json.success).toBe(false);
    expect(json.errors[0]).toEqual({
      code: 1007,
      message: "malformed API token: expected wpb_ and 43 base64url characters",
    });
  });

  it("lets a JWT write (scope write), unknown routes still answer 404", async () => {
    const headers = { Authorization: `Bearer ${await jwt()}` };
    const bad = await app.request("/api/tokens", { method: "POST", headers, body: '{"name":""}' }, env);
    expect(bad.status).toBe(400);
    const missing = await app.request("/api/nothing-here", { method: "POST", headers }, env);
    expect(missing.status).toBe(404);
  });

  it("keeps SCOPE_ERROR_CODE apart from the other error codes", () => {
    expect(Object.values(ERROR_CODES)).not.toContain(SCOPE_ERROR_CODE);
  });
});
