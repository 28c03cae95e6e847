import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CloudflareApi, CloudflareApiError, d1HttpExecutor } from "./cloudflare-api";

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface Scripted {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const TOKEN = "test-token-5ecret";
const recorded: Recorded[] = [];
let script: Scripted[] = [];
let server: Server;
let baseUrl: string;

/** Answers with the next scripted response; the last one repeats once the script runs out. */
function respondWith(...responses: Scripted[]): void {
  script = responses;
}

function ok(result: unknown): Scripted {
  return { status: 200, body: { success: true, errors: [], messages: [], result } };
}

function failure(status: number, errors: { code: number; message: string }[]): Scripted {
  return { status, body: { success: false, errors, messages: [], result: null } };
}

function client(retries = 3): CloudflareApi {
  return new CloudflareApi({ apiToken: TOKEN, baseUrl, retries, backoffMs: 1 });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      recorded.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const next = (script.length > 1 ? script.shift() : script[0]) ?? { status: 500, body: "no script" };
      const text = typeof next.body === "string" ? next.body : JSON.stringify(next.body);
      res.writeHead(next.status, { "content-type": "application/json", ...next.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

beforeEach(() => {
  recorded.length = 0;
  script = [];
});

async function rejection(promise: Promise<unknown>): Promise<CloudflareApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CloudflareApiError);
  return error as CloudflareApiError;
}

describe("CloudflareApi.getScriptMigrationTag", () => {
  it("sends GET /accounts/{account}/workers/services/{script} with the bearer token and no body", async () => {
    respondWith(ok({ default_environment: { script: { migration_tag: "v3" } } }));
    await client().getScriptMigrationTag("acc1", "my-worker");
    expect(recorded).toHaveLength(1);
    const [req] = recorded;
    expect(req?.method).toBe("GET");
    expect(req?.url).toBe("/client/v4/accounts/acc1/workers/services/my-worker");
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers["content-type"]).toBeUndefined();
    expect(req?.body).toBe("");
  });

  it.each<{ name: string; response: Scripted; expected: string | undefined }>([
    {
      name: "reads the tag from default_environment.script.migration_tag",
      response: ok({ id: "my-worker", default_environment: { script: { id: "x", migration_tag: "v3" } } }),
      expected: "v3",
    },
    {
      name: "reads a script without migrations as undefined",
      response: ok({ default_environment: { script: { id: "x" } } }),
      expected: undefined,
    },
    {
      name: "reads an empty tag as undefined",
      response: ok({ default_environment: { script: { migration_tag: "" } } }),
      expected: undefined,
    },
    {
      name: "reads a 404 as no script yet",
      response: failure(404, [{ code: 10007, message: "workers.api.error.script_not_found" }]),
      expected: undefined,
    },
    {
      name: "reads a non-JSON 404 as no script yet",
      response: { status: 404, body: "Not Found" },
      expected: undefined,
    },
    {
      name: "reads error 10092 as no script yet even when the status is not 404",
      response: failure(400, [{ code: 10092, message: "workers.api.error.service_not_found" }]),
      expected: undefined,
    },
  ])("$name", async ({ response, expected }) => {
    respondWith(response);
    await expect(client().getScriptMigrationTag("acc1", "my-worker")).resolves.toBe(expected);
    expect(recorded).toHaveLength(1);
  });

  it("fails a 403 with the method, path, status and API error codes, never the token", async () => {
    respondWith(failure(403, [{ code: 10000, message: "Authentication error" }]));
    const error = await rejection(client().getScriptMigrationTag("acc1", "my-worker"));
    expect(error.status).toBe(403);
    expect(error.method).toBe("GET");
    expect(error.path).toBe("/accounts/acc1/workers/services/my-worker");
    expect(error.errors).toEqual([{ code: 10000, message: "Authentication error" }]);
    expect(error.message).toContain("GET /accounts/acc1/workers/services/my-worker");
    expect(error.message).toContain("403");
    expect(error.message).toContain("[10000] Authentication error");
    expect(error.message).not.toContain(TOKEN);
    expect(JSON.stringify(error.errors)).not.toContain(TOKEN);
  });

  it("redacts the token if an error message ever echoes it", async () => {
    respondWith(failure(400, [{ code: 9106, message: `bad token ${TOKEN}` }]));
    const error = await rejection(client().getScriptMigrationTag("acc1", "my-worker"));
    expect(error.message).toContain("[9106] bad token [redacted]");
    expect(error.message).not.toContain(TOKEN);
    expect(error.errors[0]?.message).not.toContain(TOKEN);
  });

  it("fails a 200 whose envelope says success: false", async () => {
    respondWith({ ...failure(200, [{ code: 1234, message: "nope" }]) });
    const error = await rejection(client().getScriptMigrationTag("acc1", "my-worker"));
    expect(error.status).toBe(200);
    expect(error.message).toContain("[1234] nope");
  });

  it("encodes path segments that need it", async () => {
    respondWith(ok({}));
    await expect(client().getScriptMigrationTag("acc/1?x", "my worker#2")).resolves.toBeUndefined();
    expect(recorded[0]?.url).toBe("/client/v4/accounts/acc%2F1%3Fx/workers/services/my%20worker%232");
  });
});

describe("CloudflareApi retries", () => {
  it("retries a 429 that says Retry-After: 0, then returns the answer", async () => {
    respondWith(
      { ...failure(429, [{ code: 971, message: "rate limited" }]), headers: { "retry-after": "0" } },
      ok({ default_environment: { script: { migration_tag: "v1" } } }),
    );
    // A minute of backoff would time the test out: only the Retry-After answer lets it pass.
    const api = new CloudflareApi({ apiToken: TOKEN, baseUrl, backoffMs: 60_000 });
    const started = Date.now();
    await expect(api.getScriptMigrationTag("acc1", "w")).resolves.toBe("v1");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(recorded).toHaveLength(2);
    expect(recorded.map((r) => r.url)).toEqual([
      "/client/v4/accounts/acc1/workers/services/w",
      "/client/v4/accounts/acc1/workers/services/w",
    ]);
  });

  it.each([
    { retries: 2, requests: 3 },
    { retries: 0, requests: 1 },
  ])(
    "gives up on repeated 500s after retries + 1 requests (retries: $retries)",
    async ({ retries, requests }) => {
      respondWith(failure(500, [{ code: 10013, message: "internal error" }]));
      const error = await rejection(client(retries).getScriptMigrationTag("acc1", "w"));
      expect(error.status).toBe(500);
      expect(error.message).toContain("[10013] internal error");
      expect(recorded).toHaveLength(requests);
    },
  );

  it("resends the same body on a retried POST", async () => {
    respondWith(failure(503, []), ok([{ results: [], success: true }]));
    await client().d1Query("acc1", "db1", "SELECT 1", [1]);
    expect(recorded).toHaveLength(2);
    expect(recorded[1]?.body).toBe(recorded[0]?.body);
    expect(JSON.parse(recorded[1]?.body ?? "")).toEqual({ sql: "SELECT 1", params: [1] });
  });

  it("does not retry a 4xx other than 429", async () => {
    respondWith(failure(400, [{ code: 7003, message: "bad request" }]));
    await rejection(client().getScriptMigrationTag("acc1", "w"));
    expect(recorded).toHaveLength(1);
  });
});

describe("CloudflareApi response bodies", () => {
  it.each([
    { status: 200, text: "<html>ok?</html>" },
    { status: 502, text: "<html>Bad gateway</html>" },
  ])("fails a non-JSON body with status $status, saying so", async ({ status, text }) => {
    respondWith({ status, body: text, headers: { "content-type": "text/html" } });
    const error = await rejection(client(0).getScriptMigrationTag("acc1", "w"));
    expect(error.status).toBe(status);
    expect(error.message).toContain(`non-JSON body (status ${status})`);
  });

  it("fails JSON that is not a Cloudflare envelope", async () => {
    respondWith({ status: 200, body: { hello: "world" } });
    const error = await rejection(client().getScriptMigrationTag("acc1", "w"));
    expect(error.message).toContain("unexpected response shape");
  });
});

describe("CloudflareApi.d1Query", () => {
  const path = "/client/v4/accounts/acc1/d1/database/db-uuid/query";

  it.each<{ name: string; params: unknown[] | undefined; body: Record<string, unknown> }>([
    {
      name: "with params",
      params: ["a", 2, null],
      body: { sql: "SELECT ?1, ?2, ?3", params: ["a", 2, null] },
    },
    { name: "without params (no params key)", params: undefined, body: { sql: "SELECT ?1, ?2, ?3" } },
  ])("POSTs { sql, params } to the query API $name", async ({ params, body }) => {
    respondWith(ok([{ results: [{ x: 1 }], success: true, meta: { duration: 0.1 } }]));
    const sets = await client().d1Query("acc1", "db-uuid", "SELECT ?1, ?2, ?3", params);
    expect(sets).toEqual([{ results: [{ x: 1 }], success: true, meta: { duration: 0.1 } }]);
    const [req] = recorded;
    expect(req?.method).toBe("POST");
    expect(req?.url).toBe(path);
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req?.body ?? "")).toStrictEqual(body);
  });

  it("encodes the account and database segments", async () => {
    respondWith(ok([{ results: [], success: true }]));
    await client().d1Query("a b", "db/1", "SELECT 1");
    expect(recorded[0]?.url).toBe("/client/v4/accounts/a%20b/d1/database/db%2F1/query");
  });

  it("fails when any result set reports success: false", async () => {
    respondWith(
      ok([
        { results: [], success: true },
        { results: [], success: false },
      ]),
    );
    const error = await rejection(client().d1Query("acc1", "db-uuid", "SELECT 1; SELECT 2"));
    expect(error.method).toBe("POST");
    expect(error.message).toContain("statement 2 of 2");
  });

  it("fails an envelope with success: false and names the D1 error", async () => {
    respondWith(failure(400, [{ code: 7500, message: "near 'SELEC': syntax error" }]));
    const error = await rejection(client().d1Query("acc1", "db-uuid", "SELEC 1"));
    expect(error.errors).toEqual([{ code: 7500, message: "near 'SELEC': syntax error" }]);
    expect(error.message).toContain(`POST /accounts/acc1/d1/database/db-uuid/query`);
  });
});

describe("d1HttpExecutor", () => {
  it("returns the rows of the last result set", async () => {
    respondWith(
      ok([
        { results: [{ first: 1 }], success: true },
        { results: [{ last: 2 }, { last: 3 }], success: true },
      ]),
    );
    const executor = d1HttpExecutor(client(), "acc1", "db-uuid");
    await expect(executor.query("SELECT 1; SELECT 2", [])).resolves.toEqual([{ last: 2 }, { last: 3 }]);
    expect(JSON.parse(recorded[0]?.body ?? "")).toStrictEqual({ sql: "SELECT 1; SELECT 2", params: [] });
  });

  it("returns no rows for a statement without results", async () => {
    respondWith(ok([{ success: true, meta: { changes: 0 } }]));
    await expect(d1HttpExecutor(client(), "acc1", "db-uuid").query("CREATE TABLE t (x)")).resolves.toEqual(
      [],
    );
  });
});
