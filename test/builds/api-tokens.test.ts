/**
 * API tokens over HTTP on the local target: an account creates `read` and `write` tokens with its JWT, the
 * token is answered once and stored only as its SHA-256, each token does what its scope allows (403
 * otherwise), a revoked, unknown or malformed token is refused (401) and changes nothing, and another
 * account neither sees nor revokes them.
 */
import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "./http";
import { usePlatform } from "./platform";

const t = usePlatform();
const ACCOUNT = "tokens-acct";
const OTHER = "tokens-other";
const API_TOKEN = /^wpb_[A-Za-z0-9_-]{43}$/;

interface Created {
  id: string;
  name: string;
  scope: string;
  created_at: string;
  token: string;
}

interface Listed {
  id: string;
  name: string;
  scope: string;
  created_at: string;
  last_used_at: string | null;
}

let jwt: string;
let otherJwt: string;
let reader: Created;
let writer: Created;

async function create(token: string, name: string, scope: string) {
  return t.call<Created>("POST", "/api/tokens", { token, body: { name, scope } });
}

async function list(token: string) {
  const res = await t.call<Listed[]>("GET", "/api/tokens", { token });
  expect(res.status, res.text).toBe(200);
  return res.json.result;
}

/** Every table's rows, API tokens included (the shared count has no api_tokens). */
async function snapshot() {
  const tokens = await t.sql("SELECT * FROM api_tokens ORDER BY id");
  return { counts: await t.counts(), tokens };
}

beforeAll(async () => {
  jwt = await t.token(ACCOUNT);
  otherJwt = await t.token(OTHER);
});

describe("API tokens", () => {
  it("are created with a JWT: the token is answered once, and stored only as its SHA-256", async () => {
    const r = await create(jwt, "ci reader", "read");
    expect(r.status, r.text).toBe(201);
    expect(r.json.success).toBe(true);
    expect(Object.keys(r.json.result).sort()).toEqual(["created_at", "id", "name", "scope", "token"]);
    expect(r.json.result).toMatchObject({ name: "ci reader", scope: "read" });
    expect(r.json.result.token).toMatch(API_TOKEN);
    reader = r.json.result;

    const w = await create(jwt, "ci writer", "write");
    expect(w.status, w.text).toBe(201);
    expect(w.json.result.token).toMatch(API_TOKEN);
    expect(w.json.result.token).not.toBe(reader.token);
    writer = w.json.result;

    // Never again: not in the list, which holds neither the token nor its hash.
    const listRes = await t.call<Listed[]>("GET", "/api/tokens", { token: jwt });
    expect(listRes.status).toBe(200);
    expect(listRes.json.result.map((x) => [x.id, x.name, x.scope])).toEqual([
      [reader.id, "ci reader", "read"],
      [writer.id, "ci writer", "write"],
    ]);
    for (const item of listRes.json.result) {
      expect(Object.keys(item).sort()).toEqual(["created_at", "id", "last_used_at", "name", "scope"]);
    }
    for (const secret of [reader.token, writer.token]) {
      expect(listRes.text).not.toContain(secret);
      expect(listRes.text).not.toContain(secret.slice(4));
      expect(listRes.text).not.toContain(sha256Hex(secret));
    }

    // The database holds the SHA-256 of the token and nothing of the token itself.
    const rows = await t.sql<Record<string, unknown>>(
      "SELECT * FROM api_tokens WHERE account_id = $1 ORDER BY created_at, id",
      [ACCOUNT],
    );
    expect(rows.map((row) => row.token_sha256)).toEqual([sha256Hex(reader.token), sha256Hex(writer.token)]);
    expect(rows.map((row) => [row.scope, row.last_used_at, row.revoked_at])).toEqual([
      ["read", null, null],
      ["write", null, null],
    ]);
    const stored = JSON.stringify(rows);
    for (const secret of [reader.token, writer.token]) expect(stored).not.toContain(secret.slice(4));
  });

  it("refuses a name already taken by a live token (409) and invalid input (400), writing nothing", async () => {
    const before = await snapshot();
    const dup = await create(jwt, "ci reader", "write");
    expect(dup.status, dup.text).toBe(409);
    expect(dup.json.errors[0]!.message).toBe("an API token named ci reader already exists in this account");
    const bad = await t.call("POST", "/api/tokens", { token: jwt, body: { name: "", scope: "admin" } });
    expect(bad.status).toBe(400);
    expect(bad.json.errors.map((e) => e.message)).toEqual([
      "name: Too small: expected string to have >=1 characters",
      'scope: Invalid option: expected one of "read"|"write"',
    ]);
    expect(await snapshot()).toEqual(before);
  });

  it("a read token reads (lists Workers and builds) but gets 403 for anything that writes", async () => {
    const { worker, trigger } = await t.workerWithTrigger(jwt);
    const build = await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token: jwt, body: {} });
    expect(build.status, build.text).toBe(201);

    const workers = await t.call("GET", "/api/workers", { token: reader.token });
    expect(workers.status, workers.text).toBe(200);
    expect(workers.json.result.map((w: { id: string }) => w.id)).toContain(worker.id);
    const builds = await t.call("GET", `/api/workers/${worker.id}/builds`, { token: reader.token });
    expect(builds.status, builds.text).toBe(200);
    expect(builds.json.result.map((b: { build_uuid: string }) => b.build_uuid)).toEqual([
      build.json.result.build_uuid,
    ]);
    const one = await t.call("GET", `/api/builds/${build.json.result.build_uuid}`, { token: reader.token });
    expect(one.status, one.text).toBe(200);
    expect((await list(reader.token)).length).toBe(2);

    const before = await snapshot();
    const refused: [string, string, unknown, string][] = [
      ["POST", "/api/workers", { name: t.unique("nope") }, "POST /api/workers"],
      ["DELETE", `/api/workers/${worker.id}`, undefined, "DELETE /api/workers/:worker"],
      [
        "PUT",
        `/api/builds/${build.json.result.build_uuid}/cancel`,
        undefined,
        "PUT /api/builds/:uuid/cancel",
      ],
      ["POST", "/api/tokens", { name: "wider", scope: "write" }, "POST /api/tokens"],
      ["POST", "/api/tokens", { name: "same", scope: "read" }, "POST /api/tokens"],
      ["DELETE", `/api/tokens/${writer.id}`, undefined, "DELETE /api/tokens/:id"],
    ];
    for (const [method, path, body, route] of refused) {
      const res = await t.call(method, path, { token: reader.token, body });
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.json).toEqual({
        success: false,
        errors: [{ code: 1008, message: `this token's scope is read; ${route} needs write` }],
        messages: [],
        result: null,
      });
      expect(res.headers.get("WWW-Authenticate")).toBe('Bearer error="insufficient_scope", scope="write"');
    }
    const after = await snapshot();
    // Only last_used_at may have moved (the reader's first use was above).
    expect(after.counts).toEqual(before.counts);
    expect(after.tokens.map(({ last_used_at: _, ...row }) => row)).toEqual(
      before.tokens.map(({ last_used_at: _, ...row }) => row),
    );
  });

  it("a write token writes: a Worker, a build, a token of its own scope or narrower", async () => {
    const name = t.unique("by-token");
    const made = await t.call("POST", "/api/workers", { token: writer.token, body: { name } });
    expect(made.status, made.text).toBe(201);
    const seen = await t.call("GET", `/api/workers/${name}`, { token: jwt });
    expect(seen.status).toBe(200);
    expect(seen.json.result.id).toBe(made.json.result.id);

    const narrower = await create(writer.token, "made by writer", "read");
    expect(narrower.status, narrower.text).toBe(201);
    const same = await create(writer.token, "also by writer", "write");
    expect(same.status, same.text).toBe(201);
    for (const token of [narrower.json.result, same.json.result]) {
      const del = await t.call("DELETE", `/api/tokens/${token.id}`, { token: writer.token });
      expect(del.status, del.text).toBe(200);
    }
  });

  it("stamps last_used_at on use, at most once a minute", async () => {
    const listed = await list(jwt);
    const r = listed.find((x) => x.id === reader.id)!;
    const w = listed.find((x) => x.id === writer.id)!;
    expect(r.last_used_at).not.toBeNull();
    expect(w.last_used_at).not.toBeNull();
    expect(Date.parse(r.last_used_at!)).toBeGreaterThanOrEqual(Date.parse(reader.created_at));

    const [before] = await t.sql<{ last_used_at: Date }>(
      "SELECT last_used_at FROM api_tokens WHERE id = $1",
      [reader.id],
    );
    for (let i = 0; i < 3; i++)
      expect((await t.call("GET", "/api/workers", { token: reader.token })).status).toBe(200);
    const [again] = await t.sql<{ last_used_at: Date }>("SELECT last_used_at FROM api_tokens WHERE id = $1", [
      reader.id,
    ]);
    expect(again!.last_used_at.getTime()).toBe(before!.last_used_at.getTime());

    // A minute later (moved back instead of waiting), the next use stamps it again.
    await t.sql("UPDATE api_tokens SET last_used_at = now() - interval '61 seconds' WHERE id = $1", [
      reader.id,
    ]);
    const [aged] = await t.sql<{ last_used_at: Date }>("SELECT last_used_at FROM api_tokens WHERE id = $1", [
      reader.id,
    ]);
    expect((await t.call("GET", "/api/workers", { token: reader.token })).status).toBe(200);
    const [stamped] = await t.sql<{ last_used_at: Date }>(
      "SELECT last_used_at FROM api_tokens WHERE id = $1",
      [reader.id],
    );
    expect(stamped!.last_used_at.getTime()).toBeGreaterThan(aged!.last_used_at.getTime());
  });

  it("another account neither sees nor revokes them, and its tokens see nothing of this account", async () => {
    expect(await list(otherJwt)).toEqual([]);
    for (const id of [reader.id, writer.id]) {
      const res = await t.call("DELETE", `/api/tokens/${id}`, { token: otherJwt });
      expect(res.status, res.text).toBe(404);
      expect(res.json.errors[0]!.message).toBe(`API token ${id} not found`);
    }
    const others = await create(otherJwt, "other writer", "write");
    expect(others.status, others.text).toBe(201);
    const del = await t.call("DELETE", `/api/tokens/${reader.id}`, { token: others.json.result.token });
    expect(del.status).toBe(404);
    expect((await list(others.json.result.token)).map((x) => x.name)).toEqual(["other writer"]);
    expect((await t.call("GET", "/api/workers", { token: others.json.result.token })).json.result).toEqual(
      [],
    );
    // Both of this account's tokens still work.
    expect((await t.call("GET", "/api/tokens", { token: reader.token })).status).toBe(200);
    expect((await t.call("GET", "/api/tokens", { token: writer.token })).status).toBe(200);
  });

  it("a revoked token is refused with 401 from then on, and leaves the list", async () => {
    const revoked = await t.call("DELETE", `/api/tokens/${reader.id}`, { token: jwt });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json.result).toMatchObject({ id: reader.id, name: "ci reader", scope: "read" });
    expect(revoked.json.result.revoked_at).toEqual(expect.any(String));
    expect(revoked.text).not.toContain(reader.token.slice(4));

    const refused = await t.call("GET", "/api/workers", { token: reader.token });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("WWW-Authenticate")).toBe("Bearer");
    expect(refused.json.errors).toEqual([{ code: 1007, message: "API token revoked" }]);

    expect((await list(jwt)).map((x) => x.id)).toEqual([writer.id]);
    const twice = await t.call("DELETE", `/api/tokens/${reader.id}`, { token: jwt });
    expect(twice.status).toBe(404);
    const unknown = await t.call("DELETE", "/api/tokens/7d3c0f43-2a51-4b8e-9b0f-6a1e2c3d4e5f", {
      token: jwt,
    });
    expect(unknown.status).toBe(404);
    const notUuid = await t.call("DELETE", "/api/tokens/nope", { token: jwt });
    expect(notUuid.status).toBe(400);

    // Its name is free again; the row stays, revoked.
    const again = await create(jwt, "ci reader", "read");
    expect(again.status, again.text).toBe(201);
    const [row] = await t.sql<{ revoked_at: Date | null }>(
      "SELECT revoked_at FROM api_tokens WHERE id = $1",
      [reader.id],
    );
    expect(row!.revoked_at).toBeInstanceOf(Date);
  });

  it("a malformed or unknown token is refused with 401 and changes nothing", async () => {
    const before = await snapshot();
    const unknown = `wpb_${randomBytes(32).toString("base64url")}`;
    const cases: [string, RegExp][] = [
      [unknown, /^unknown API token$/],
      [`wpb_${"a".repeat(20)}`, /^malformed API token: expected wpb_ and 43 base64url characters$/],
      [`${writer.token}x`, /^malformed API token/],
      [writer.token.slice(4), /^invalid token$/],
    ];
    for (const [token, message] of cases) {
      for (const [method, path, body] of [
        ["GET", "/api/workers", undefined],
        ["POST", "/api/workers", { name: t.unique("never") }],
        ["POST", "/api/tokens", { name: t.unique("never"), scope: "write" }],
        ["DELETE", `/api/tokens/${writer.id}`, undefined],
      ] as const) {
        const res = await t.call(method, path, { token, body });
        expect(res.status, `${method} ${path} with ${token}: ${res.text}`).toBe(401);
        expect(res.json.success).toBe(false);
        expect(res.json.errors[0]!.code).toBe(1007);
        expect(res.json.errors[0]!.message).toMatch(message);
      }
    }
    expect(await snapshot()).toEqual(before);
    // The write token is still live: nothing above revoked it.
    expect((await t.call("GET", "/api/tokens", { token: writer.token })).status).toBe(200);
  });

  it("the platform's JWTs keep working as before (scope write)", async () => {
    const res = await t.call("POST", "/api/workers", { token: jwt, body: { name: t.unique("jwt") } });
    expect(res.status, res.text).toBe(201);
  });
});
