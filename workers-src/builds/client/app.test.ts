/**
 * The app's edges that answer before any database work: auth, routing, body limits, envelopes and the
 * 500 that tells nothing. Routes that reach Postgres are tested end to end in test/builds/api.test.ts.
 */
import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import { app } from "./app";
import type { ClientEnv } from "./env";

const SECRET = "app-test-secret";
const UNREACHABLE_DB = "postgresql://user:hunter2@127.0.0.1:1/platform";

const env = {
  API_JWT_SECRET: SECRET,
  BUILD_VARIABLES_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))),
  RELEASE: "test-release",
  ALLOW_FILE_REPOS: "false",
  HYPERDRIVE: { connectionString: UNREACHABLE_DB } as Hyperdrive,
  MANAGEMENT: {} as ClientEnv["MANAGEMENT"],
} satisfies ClientEnv;

const token = () => sign({ sub: "acct", exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, "HS256");

async function call(path: string, init: RequestInit = {}) {
  const res = await app.request(path, init, env);
  const text = await res.text();
  return {
    res,
    text,
    json: JSON.parse(text) as { success: boolean; errors: { code: number; message: string }[] },
  };
}

describe("client app", () => {
  it("answers health without a token, with the release", async () => {
    const { res, json } = await call("/api/health");
    expect(res.status).toBe(200);
    expect(json).toEqual({
      success: true,
      errors: [],
      messages: [],
      result: { ok: true, release: "test-release" },
    });
    expect(res.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers 401 in an envelope without a token, on every /api route", async () => {
    for (const [method, path] of [
      ["GET", "/api/workers"],
      ["POST", "/api/workers"],
      ["GET", "/api/builds/0b9e0c5e-8f34-4c1e-9f7a-3d2b1a0c9e8f"],
      ["GET", "/api/nothing-here"],
    ] as const) {
      const { res, json } = await call(path, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toBe("Bearer");
      expect(json.success).toBe(false);
      expect(json.errors[0]!.code).toBe(1007);
    }
  });

  it("answers an unknown route outside /api with a 404 envelope", async () => {
    const { res, json } = await call("/nope");
    expect(res.status).toBe(404);
    expect(json.errors[0]!.message).toBe("no route for GET /nope");
  });

  it("answers malformed JSON with 400 and an oversized body with 413", async () => {
    const headers = { Authorization: `Bearer ${await token()}`, "Content-Type": "application/json" };
    const malformed = await call("/api/workers", { method: "POST", headers, body: '{"name":' });
    expect(malformed.res.status).toBe(400);
    expect(malformed.json.errors[0]!.code).toBe(1002);
    const large = await call("/api/workers", {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "x".repeat(70_000) }),
    });
    expect(large.res.status).toBe(413);
    expect(large.json.errors[0]!.code).toBe(1003);
  });

  it("answers validation errors with each issue", async () => {
    const headers = { Authorization: `Bearer ${await token()}` };
    const { res, json } = await call("/api/workers", {
      method: "POST",
      headers,
      body: '{"name":"Bad Name","x":1}',
    });
    expect(res.status).toBe(400);
    expect(json.errors.map((e) => e.message)).toEqual([
      "name: must be 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash",
      'body: Unrecognized key: "x"',
    ]);
  });

  it("answers an unexpected failure with a bare 500 that names the request, not the error", async () => {
    const headers = { Authorization: `Bearer ${await token()}` };
    const { res, text, json } = await call("/api/workers", {
      method: "POST",
      headers,
      body: '{"name":"ok"}',
    });
    expect(res.status).toBe(500);
    expect(json.errors).toEqual([{ code: 10000, message: "internal error" }]);
    expect(text).toContain(res.headers.get("X-Request-Id")!);
    expect(text).not.toMatch(/hunter2|127\.0\.0\.1|ECONNREFUSED|INSERT|stack/i);
  });

  it("refuses unsigned webhooks and unknown deploy hook secrets before touching the database", async () => {
    const payload = JSON.stringify({ repository: { clone_url: "https://github.com/a/b" } });
    const github = await call("/webhooks/github", {
      method: "POST",
      body: payload,
      headers: { "X-GitHub-Event": "push" },
    });
    expect(github.res.status).toBe(401);
    const gitlab = await call("/webhooks/gitlab", {
      method: "POST",
      body: "{}",
      headers: { "X-Gitlab-Token": "t" },
    });
    expect(gitlab.res.status).toBe(401);
    const hook = await call("/hooks/deploy/not-a-secret", { method: "POST" });
    expect(hook.res.status).toBe(404);
  });
});
