import {
  createExecutionContext,
  createScheduledController,
  SELF,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, expectTypeOf, it } from "vitest";
import * as z from "zod";
import { router } from "./router.js";
import worker, { type TestEnv } from "./test-worker.js";

const get = (path: string, init?: RequestInit) => SELF.fetch(`https://example.com${path}`, init);
const postJson = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  get(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });

describe("routing", () => {
  it("passes decoded path params to the handler", async () => {
    const res = await get("/users/ada%20lovelace");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "ada lovelace" });
    expect(await (await get("/users/7/posts/42")).json()).toEqual({ user: "7", post: "42" });
  });

  it("answers a handler's undefined with 204", async () => {
    const res = await get("/users/7", { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  });

  it("serves a host-bound route only on its host, case-insensitively", async () => {
    const api = await SELF.fetch("https://API.example.com/whoami");
    expect(await api.json()).toEqual({ served: "api" });
    expect(await (await get("/whoami")).json()).toEqual({ served: "any host" });
  });

  it("answers an unknown path with 404 and a known path with the wrong method with 405 and Allow", async () => {
    const missing = await get("/nowhere/at/all");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "no route for /nowhere/at/all" });

    const wrong = await get("/users/7", { method: "PUT" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("GET, DELETE, HEAD, OPTIONS");
  });

  it("answers HEAD with the GET route's status and headers and no body", async () => {
    const execution = createExecutionContext();
    const res = await worker.fetch(
      new Request("https://example.com/users/7", { method: "HEAD" }),
      env as unknown as TestEnv,
      execution,
    );
    await waitOnExecutionContext(execution);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.body).toBeNull();
    // An error, a 404 and a validation failure lose their bodies too.
    for (const [path, status] of [
      ["/teapot", 418],
      ["/nowhere", 404],
      ["/users/%E0%A4%A", 400],
    ] as const) {
      const head = await worker.fetch(
        new Request(`https://example.com${path}`, { method: "HEAD" }),
        env as unknown as TestEnv,
        createExecutionContext(),
      );
      expect([head.status, head.body]).toEqual([status, null]);
    }
    const teapot = await get("/teapot", { method: "HEAD" });
    expect(teapot.status).toBe(418);
    expect(teapot.headers.get("x-trace")).toBe("outer:in,inner:in,inner:out,outer:out");
    // A path with no GET route has no HEAD either.
    const postOnly = await get("/users", { method: "HEAD" });
    expect(postOnly.status).toBe(405);
    expect(postOnly.headers.get("allow")).toBe("POST, OPTIONS");
  });

  it.each([
    { path: "/users/7", allow: "GET, DELETE, HEAD, OPTIONS" },
    { path: "/users", allow: "POST, OPTIONS" },
    { path: "/whoami", allow: "GET, HEAD, OPTIONS" },
  ])("answers OPTIONS $path with 204 and Allow: $allow", async ({ path, allow }) => {
    const res = await get(path, { method: "OPTIONS" });
    expect(res.status).toBe(204);
    expect(res.headers.get("allow")).toBe(allow);
    expect(await res.text()).toBe("");
  });

  it("answers OPTIONS on an unknown path with 404", async () => {
    expect((await get("/nowhere", { method: "OPTIONS" })).status).toBe(404);
  });

  it("answers a path with broken percent-encoding with 400", async () => {
    const res = await get("/users/%E0%A4%A");
    expect(res.status).toBe(400);
  });

  it("answers an HttpError with its status and message", async () => {
    const res = await get("/teapot");
    expect(res.status).toBe(418);
    expect(await res.json()).toEqual({ error: "this route brews tea" });
    expect(res.headers.get("x-trace")).toBe("outer:in,inner:in,inner:out,outer:out");
  });

  it.each([
    { path: "/files/readme.md", expected: { path: "readme.md" } },
    { path: "/files/docs/guide/intro%20page.md", expected: { path: "docs/guide/intro page.md" } },
    { path: "/users/7/files/a/b", expected: { id: "7", rest: "a/b" } },
  ])("gives a trailing *name the rest of the path: $path", async ({ path, expected }) => {
    expect(await (await get(path)).json()).toEqual(expected);
  });

  it("matches a trailing *name only with at least one segment", async () => {
    expect((await get("/files")).status).toBe(404);
    expect((await get("/files/")).status).toBe(404);
  });

  it.each(["/a/*", "/*rest/more", "/a/*rest/:id"])("refuses the route %s at registration", (path) => {
    expect(() => router<TestEnv>().get(path, () => undefined)).toThrow(
      `router: GET ${path}: a "*name" segment must be named and come last`,
    );
  });

  it("types params from the path literal", () => {
    const app = router<TestEnv>();
    app.get("/files/:bucket/*key", (ctx) => {
      expectTypeOf(ctx.params).toEqualTypeOf<{ bucket: string; key: string }>();
    });
    app.get("/a/:first/b/:second", (ctx) => {
      expectTypeOf(ctx.params).toEqualTypeOf<{ first: string; second: string }>();
      expectTypeOf(ctx.body).toEqualTypeOf<undefined>();
    });
    app.post("/c", { body: z.object({ n: z.number() }), query: z.object({ q: z.string() }) }, (ctx) => {
      expectTypeOf<keyof typeof ctx.params>().toEqualTypeOf<never>();
      expectTypeOf(ctx.body).toEqualTypeOf<{ n: number }>();
      expectTypeOf(ctx.query).toEqualTypeOf<{ q: string }>();
    });
  });
});

describe("middleware", () => {
  it("runs in registration order on the way in and in reverse on the way out", async () => {
    const res = await get("/trace");
    expect(await res.text()).toBe("traced");
    expect(res.headers.get("x-trace")).toBe("outer:in,inner:in,handler,inner:out,outer:out");
  });

  it("runs for unmatched requests too", async () => {
    const res = await get("/nowhere");
    expect(res.status).toBe(404);
    expect(res.headers.get("x-trace")).toBe("outer:in,inner:in,inner:out,outer:out");
  });

  it("can answer without calling next, before the route's validation runs", async () => {
    const res = await postJson("/admin/users", { name: "" });
    expect(res.status).toBe(401);
    expect(res.headers.get("x-trace")).toBe("outer:in,inner:in,outer:out");

    const ok = await postJson("/admin/users", { name: "ada", age: 36 }, { authorization: "Bearer admin" });
    expect(await ok.json()).toEqual({ created: { name: "ada", age: 36 } });
  });
});

describe("validation", () => {
  it("gives the handler the parsed body", async () => {
    const res = await postJson("/users", { name: "ada", age: 36, extra: true });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ created: { name: "ada", age: 36 } });
  });

  it("answers a body that does not match with 400 and the issues", async () => {
    const res = await postJson("/users", { name: "", age: 1.5 });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string[] }[] };
    expect(body.error).toBe("request body does not match the route's schema");
    expect(body.issues.map((i) => i.path)).toEqual([["name"], ["age"]]);
  });

  it("answers a body that is not JSON with 400", async () => {
    const res = await get("/users", { method: "POST", body: "{name" });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "request body is not valid JSON" });
  });

  it("validates and coerces the query, with defaults", async () => {
    expect(await (await get("/search?q=cats")).json()).toEqual({ q: "cats", limit: 10 });
    expect(await (await get("/search?q=cats&limit=20")).json()).toEqual({ q: "cats", limit: 20 });

    const res = await get("/search?limit=99");
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string[] }[] };
    expect(body.error).toBe("request query does not match the route's schema");
    expect(body.issues.map((i) => i.path)).toEqual([["q"], ["limit"]]);
  });
});

describe("cron", () => {
  const testEnv = env as unknown as TestEnv;
  const runCron = async (cron: string) => {
    const execution = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron }), testEnv, execution);
    await waitOnExecutionContext(execution);
  };

  it("dispatches a scheduled event to the handler of its cron expression", async () => {
    await runCron("*/5 * * * *");
    await runCron("*/5 * * * *");
    await runCron("0 3 * * *");

    expect(await (await get("/counters/cron-every-5-minutes")).json()).toMatchObject({ value: 2 });
    expect(await (await get("/counters/cron-nightly")).json()).toMatchObject({ value: 100 });
  });

  it("fails an event whose cron has no handler, naming it", async () => {
    await expect(runCron("1 2 3 4 5")).rejects.toThrow(
      'router: no handler for cron "1 2 3 4 5"; register one with app.cron()',
    );
  });

  it("refuses a second handler for the same expression", () => {
    const app = router<TestEnv>();
    app.cron("* * * * *", () => {});
    expect(() => app.cron("* * * * *", () => {})).toThrow('router: cron "* * * * *" already has a handler');
  });
});
