/**
 * What the Client Worker refuses, over HTTP: invalid input (400, nothing written), bodies too large or
 * not JSON, tokens it does not accept (401, nothing written), and another account's objects (404, as if
 * they did not exist).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { devTokenSecretOf } from "../../local/dev-token";
import { rawJwt } from "./http";
import { usePlatform } from "./platform";

const t = usePlatform();
const SECRET_VALUE = "guards-secret-value-never-shown";
const MISSING = "7d3c0f43-2a51-4b8e-9b0f-6a1e2c3d4e5f";

describe("validation", () => {
  let token: string;
  let workerId: string;
  let triggerId: string;
  beforeAll(async () => {
    token = await t.token("acct-valid");
    const made = await t.workerWithTrigger(token);
    workerId = made.worker.id;
    triggerId = made.trigger.id;
  });

  const cases: [string, string, () => string, unknown, RegExp][] = [
    ["a Worker without name", "POST", () => "/api/workers", {}, /^name: /],
    ["an upper-case Worker name", "POST", () => "/api/workers", { name: "Site" }, /^name: must be 1 to 63/],
    [
      "a Worker with an unknown field",
      "POST",
      () => "/api/workers",
      { name: "ok", plan: "x" },
      /^body: Unrecognized key/,
    ],
    ["a JSON array", "POST", () => "/api/workers", [], /^body: /],
    [
      "a trigger without repo",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      { production_branch: "main" },
      /^repo_url: /,
    ],
    [
      "an http:// repo",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      { repo_url: "http://github.com/a/b", production_branch: "main" },
      /^repo_url: must be an https:\/\/ or file:\/\/ URL/,
    ],
    [
      "a bad branch",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      { repo_url: "https://github.com/a/b", production_branch: "a..b" },
      /^production_branch: /,
    ],
    [
      "65 variables",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      {
        repo_url: "https://github.com/a/b",
        production_branch: "main",
        env_vars: Array.from({ length: 65 }, (_, i) => ({ name: `V${i}`, value: SECRET_VALUE })),
      },
      /^env_vars: at most 64/,
    ],
    [
      "a 6 KB value",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      {
        repo_url: "https://github.com/a/b",
        production_branch: "main",
        env_vars: [{ name: "X", value: "x".repeat(6000) }],
      },
      /^env_vars\[0\]\.value: must be at most 5120 bytes/,
    ],
    [
      "duplicate variables",
      "POST",
      () => `/api/workers/${workerId}/triggers`,
      {
        repo_url: "https://github.com/a/b",
        production_branch: "main",
        env_vars: [
          { name: "A", value: "1" },
          { name: "A", type: "secret", value: SECRET_VALUE },
        ],
      },
      /^env_vars\[1\]\.name: A is given twice/,
    ],
    [
      "a patch with an unknown field",
      "PATCH",
      () => `/api/triggers/${triggerId}`,
      { name: "x" },
      /^body: Unrecognized/,
    ],
    [
      "a patch with a null branch",
      "PATCH",
      () => `/api/triggers/${triggerId}`,
      { production_branch: null },
      /^production_branch: /,
    ],
    [
      "branch and commit",
      "POST",
      () => `/api/triggers/${triggerId}/builds`,
      { branch: "a", commit_hash: "abcdef1" },
      /^body: give branch or commit_hash, not both/,
    ],
    [
      "a short commit",
      "POST",
      () => `/api/triggers/${triggerId}/builds`,
      { commit_hash: "abc" },
      /^commit_hash: /,
    ],
    ["a deploy hook without name", "POST", () => `/api/triggers/${triggerId}/deploy_hooks`, {}, /^name: /],
    [
      "a trigger id that is not a UUID",
      "GET",
      () => "/api/triggers/123",
      undefined,
      /^trigger: must be a UUID/,
    ],
    [
      "a build id that is not a UUID",
      "PUT",
      () => "/api/builds/nope/cancel",
      undefined,
      /^uuid: must be a UUID/,
    ],
    ["a per_page of 0", "GET", () => `/api/workers/${workerId}/builds?per_page=0`, undefined, /^per_page: /],
    ["a per_page of 101", "GET", () => "/api/workers?per_page=101", undefined, /^per_page: /],
    ["an unknown status", "GET", () => `/api/workers/${workerId}/builds?status=done`, undefined, /^status: /],
    ["an unknown query parameter", "GET", () => "/api/workers?page=2", undefined, /^query: Unrecognized key/],
    ...(
      [
        ["a trigger delete", "DELETE", () => `/api/triggers/${triggerId}?force=true`],
        ["a Worker delete", "DELETE", () => `/api/workers/${workerId}?cascade=1`],
        ["a cache clear", "DELETE", () => `/api/workers/${workerId}/build_cache?all=1`],
        ["a cancel", "PUT", () => `/api/builds/${MISSING}/cancel?force=1`],
        ["a deploy hook delete", "DELETE", () => `/api/deploy_hooks/${MISSING}?x=1`],
      ] as const
    ).map(
      ([what, method, path]) =>
        [
          `a query parameter on ${what}`,
          method,
          path,
          undefined,
          /^query: Unrecognized key/,
        ] as (typeof cases)[number],
    ),
  ];

  it.each(cases)("refuses %s with 400 and writes nothing", async (_, method, path, body, message) => {
    const before = await t.counts();
    const res = await t.call(method, path(), { token, body });
    expect(res.status, res.text).toBe(400);
    expect(res.json.success).toBe(false);
    expect(res.json.result).toBeNull();
    expect(res.json.errors.length).toBeGreaterThan(0);
    for (const e of res.json.errors) expect(e.code).toBe(1001);
    expect(
      res.json.errors.map((e) => e.message).some((m) => message.test(m)),
      res.text,
    ).toBe(true);
    expect(await t.counts()).toEqual(before);
  });

  it("refuses malformed JSON with 400 and an oversized body with 413, writing nothing", async () => {
    const before = await t.counts();
    const malformed = await t.call("POST", "/api/workers", { token, body: '{"name": "x"' });
    expect(malformed.status).toBe(400);
    expect(malformed.json.errors[0]!.code).toBe(1002);
    const big = await t.call("POST", `/api/workers/${workerId}/triggers`, {
      token,
      body: {
        repo_url: "https://github.com/a/b",
        production_branch: "main",
        build_command: "x".repeat(70 * 1024),
      },
    });
    expect(big.status).toBe(413);
    expect(big.json.errors).toEqual([{ code: 1003, message: "body: larger than 65536 bytes" }]);
    const hook = await t.call("POST", "/webhooks/github", { body: `{"a":"${"x".repeat(1024 * 1024)}"}` });
    expect(hook.status).toBe(413);
    expect(await t.counts()).toEqual(before);
  });
});

describe("authentication", () => {
  const now = () => Math.floor(Date.now() / 1000);
  const platformSecret = () => devTokenSecretOf(t.platform.target.plan.services)!;
  const tokens: [string, () => Promise<string | undefined>][] = [
    ["no token", async () => undefined],
    ["an expired token", () => t.token("acct-auth", { expiresInSeconds: -10 })],
    ["a token signed with another secret", () => t.token("acct-auth", { secret: "not-the-platform-secret" })],
    [
      "an alg none token",
      async () => rawJwt({ alg: "none", typ: "JWT" }, { sub: "acct-auth", exp: now() + 600 }, null),
    ],
    [
      "a token without exp",
      async () => rawJwt({ alg: "HS256", typ: "JWT" }, { sub: "acct-auth" }, platformSecret()),
    ],
    [
      "a token not valid yet",
      async () =>
        rawJwt(
          { alg: "HS256", typ: "JWT" },
          { sub: "acct-auth", exp: now() + 600, nbf: now() + 300 },
          platformSecret(),
        ),
    ],
    [
      "a token whose payload was altered",
      async () => {
        const [h, , sig] = (await t.token("acct-auth")).split(".");
        return `${h}.${Buffer.from(JSON.stringify({ sub: "acct-other", exp: now() + 600 })).toString("base64url")}.${sig}`;
      },
    ],
    ["a token that is not a JWT", async () => "not.a.jwt"],
  ];

  it.each(tokens)("refuses %s with 401 on reads and writes, writing nothing", async (_, make) => {
    const token = await make();
    const before = await t.counts();
    for (const [method, path, body] of [
      ["GET", "/api/workers", undefined],
      ["POST", "/api/workers", { name: "never" }],
      ["POST", `/api/triggers/${MISSING}/builds`, {}],
    ] as const) {
      const res = await t.call(method, path, { token, body });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.json).toMatchObject({ success: false, result: null, errors: [{ code: 1007 }] });
    }
    expect(await t.counts()).toEqual(before);
  });

  it("accepts the platform's own tokens, hand-made ones included", async () => {
    const token = rawJwt(
      { alg: "HS256", typ: "JWT" },
      { sub: "acct-auth", exp: now() + 600 },
      platformSecret(),
    );
    expect((await t.call("GET", "/api/workers", { token })).status).toBe(200);
  });
});

describe("tenant isolation", () => {
  it("answers account B 404 or nothing for every route on account A's objects", async () => {
    const a = await t.token("acct-tenant-a");
    const b = await t.token("acct-tenant-b");
    const { worker, trigger } = await t.workerWithTrigger(a, {
      env_vars: [{ name: "TOKEN", type: "secret", value: SECRET_VALUE }],
    });
    const build = (await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token: a })).json.result;
    const hook = (
      await t.call("POST", `/api/triggers/${trigger.id}/deploy_hooks`, { token: a, body: { name: "h" } })
    ).json.result;
    const before = await t.counts();

    const notFound: [string, string, unknown?][] = [
      ["GET", `/api/workers/${worker.id}`],
      ["GET", `/api/workers/${worker.name}`],
      ["GET", `/api/workers/${worker.id}/triggers`],
      [
        "POST",
        `/api/workers/${worker.id}/triggers`,
        { repo_url: "https://github.com/b/b", production_branch: "main" },
      ],
      ["GET", `/api/workers/${worker.id}/builds`],
      ["DELETE", `/api/workers/${worker.id}/build_cache`],
      ["DELETE", `/api/workers/${worker.id}`],
      ["DELETE", `/api/workers/${worker.name}`],
      ["GET", `/api/triggers/${trigger.id}`],
      ["PATCH", `/api/triggers/${trigger.id}`, { build_command: "evil" }],
      ["DELETE", `/api/triggers/${trigger.id}`],
      ["POST", `/api/triggers/${trigger.id}/builds`, {}],
      ["POST", `/api/triggers/${trigger.id}/deploy_hooks`, { name: "evil" }],
      ["GET", `/api/triggers/${trigger.id}/deploy_hooks`],
      ["DELETE", `/api/deploy_hooks/${hook.id}`],
      ["GET", `/api/builds/${build.build_uuid}`],
      ["PUT", `/api/builds/${build.build_uuid}/cancel`],
      ["POST", `/api/builds/${build.build_uuid}/retry`],
      ["GET", `/api/builds/${build.build_uuid}/logs`],
      ["GET", `/api/builds/${build.build_uuid}/logs/stream`],
    ];
    for (const [method, path, body] of notFound) {
      const res = await t.call(method, path, { token: b, body });
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(404);
      expect(res.json.errors[0]!.code).toBe(1004);
      // Exactly what a missing object answers.
      const missing = await t.call(
        method,
        path
          .replace(worker.id, MISSING)
          .replace(trigger.id, MISSING)
          .replace(build.build_uuid, MISSING)
          .replace(hook.id, MISSING),
        { token: b, body },
      );
      expect(missing.status).toBe(404);
    }
    const list = await t.call("GET", "/api/workers", { token: b });
    expect(list.json.result).toEqual([]);
    expect(await t.counts()).toEqual(before);
    expect((await t.call("GET", `/api/builds/${build.build_uuid}`, { token: a })).json.result.status).toBe(
      "queued",
    );
    expect(
      (await t.call("GET", `/api/triggers/${trigger.id}`, { token: a })).json.result.build_command,
    ).toBeNull();

    // B's own namespace is separate: the same Worker name is free for B.
    expect((await t.call("POST", "/api/workers", { token: b, body: { name: worker.name } })).status).toBe(
      201,
    );
  });
});

describe("secrets", () => {
  it("never appear in any response of this file", () => {
    expect(t.seen.length).toBeGreaterThan(20);
    for (const text of t.seen) expect(text).not.toContain(SECRET_VALUE);
  });
});
