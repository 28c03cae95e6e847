// The framework demo app end to end over HTTP, on the local target as `npm start` runs the `local` stack.
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fetch as miniflareFetch } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalTarget, startLocalTarget } from "../local/target/runner";

let target: LocalTarget;
let demo: string;
let demoName: string;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "framework-demo-"));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its data folder
  target = await startLocalTarget({ stateDir: path.join(dir, "state"), log: () => {} });
  const name = Object.keys(target.workers).find((w) => w.endsWith("-demo-worker"));
  if (!name) throw new Error("the local stack has no Worker *-demo-worker");
  demo = target.workers[name] as string;
  demoName = name;
}, 180_000);

afterAll(() => target?.stop(), 60_000);

const call = (method: string, route: string, body?: unknown) =>
  fetch(new URL(route, demo), {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
  });

async function createDoc(doc: unknown): Promise<string> {
  const res = await call("POST", "/docs", doc);
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  expect(res.headers.get("location")).toBe(`/docs/${id}`);
  return id;
}

describe("framework demo: documents in KV", () => {
  it("creates a document with a generated id, reads it whole and at depth, and answers 404 past its end", async () => {
    const id = await createDoc({ profile: { name: "Ada", langs: ["en", "fr"] }, score: 1 });
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(await (await call("GET", `/docs/${id}`)).json()).toEqual({
      profile: { name: "Ada", langs: ["en", "fr"] },
      score: 1,
    });
    expect(await (await call("GET", `/docs/${id}/at/profile.name`)).json()).toBe("Ada");
    expect(await (await call("GET", `/docs/${id}/at/profile.langs.1`)).json()).toBe("fr");
    const missing = await call("GET", `/docs/${id}/at/profile.age`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: `document ${id} has nothing at profile.age` });
    expect((await call("GET", "/docs/NO-SUCH-DOC")).status).toBe(404);
    expect((await call("GET", `/docs/${id}/at/profile..name`)).status).toBe(400);
  });

  it("edits at depth (creating missing parts), deletes at depth and whole, and refuses bad bodies and writes below a string", async () => {
    const id = await createDoc({ profile: { name: "Grace" }, tags: ["a", "b", "c"] });
    const put = await call("PUT", `/docs/${id}/at/profile.address.city`, { value: "Arlington" });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ id, path: "profile.address.city", value: "Arlington" });
    expect((await call("DELETE", `/docs/${id}/at/tags.1`)).status).toBe(204);
    expect(await (await call("GET", `/docs/${id}`)).json()).toEqual({
      profile: { name: "Grace", address: { city: "Arlington" } },
      tags: ["a", "c"],
    });

    const noValue = await call("PUT", `/docs/${id}/at/profile.name`, { name: "x" });
    expect(noValue.status).toBe(400);
    expect(((await noValue.json()) as { error: string }).error).toBe(
      "request body does not match the route's schema",
    );
    const belowString = await call("PUT", `/docs/${id}/at/profile.name.first`, { value: "G" });
    expect(belowString.status).toBe(409);
    expect(((await belowString.json()) as { error: string }).error).toMatch(
      /cannot write below .*profile\.name/,
    );
    expect((await call("PUT", "/docs/NO-SUCH-DOC/at/a", { value: 1 })).status).toBe(404);
    expect((await call("POST", "/docs", ["not", "an", "object"])).status).toBe(400);

    expect((await call("DELETE", `/docs/${id}`)).status).toBe(204);
    expect((await call("GET", `/docs/${id}`)).status).toBe(404);
    expect((await call("DELETE", `/docs/${id}`)).status).toBe(404);
  });

  it("lists documents by id prefix a page at a time, oldest first, following the cursor to the end", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await createDoc({ n: i }));
    // Ids start with their creation time: the five share a prefix that earlier documents may share too.
    let prefix = ids[0] as string;
    while (!ids.every((id) => id.startsWith(prefix))) prefix = prefix.slice(0, -1);
    const seen: { id: string; doc: unknown }[] = [];
    const pages: number[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ prefix, limit: "2", ...(cursor ? { cursor } : {}) });
      const res = await call("GET", `/docs?${query}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as {
        docs: { id: string; doc: unknown }[];
        cursor?: string;
        complete: boolean;
      };
      pages.push(page.docs.length);
      seen.push(...page.docs);
      cursor = page.complete ? undefined : page.cursor;
      if (!page.complete) expect(page.cursor).toEqual(expect.any(String));
    } while (cursor);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.slice(0, -1).every((n) => n === 2)).toBe(true);
    expect(seen.every((d) => d.id.startsWith(prefix))).toBe(true);
    const ours = seen.filter((d) => ids.includes(d.id));
    expect(ours).toEqual(ids.map((id, n) => ({ id, doc: { n } })));
    expect(((await (await call("GET", "/docs?limit=0")).json()) as { error: string }).error).toBe(
      "request query does not match the route's schema",
    );
  });
});

describe("framework demo: concurrent edits of one document, through the KV writer", () => {
  const put = (id: string, path: string, value: unknown, ifMatch?: string) =>
    fetch(new URL(`/docs/${id}/at/${path}`, demo), {
      method: "PUT",
      body: JSON.stringify({ value }),
      headers: {
        "content-type": "application/json",
        ...(ifMatch === undefined ? {} : { "if-match": ifMatch }),
      },
    });

  it("keeps all 20 of 20 concurrent chained writes to different paths, and KV's copy catches up", async () => {
    const id = await createDoc({ title: "concurrent" });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put(id, `fields.f${i + 1}`, i + 1)),
    );
    expect(answers.map((res) => res.status)).toEqual(Array(20).fill(200));
    expect(answers.every((res) => /^"\d+"$/.test(res.headers.get("etag") ?? ""))).toBe(true);
    const fields = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i + 1}`, i + 1]));
    const read = await call("GET", `/docs/${id}?consistent=1`);
    expect(await read.json()).toEqual({ title: "concurrent", fields });
    // The creation was version 1; each of the 20 writes made the next.
    expect(read.headers.get("etag")).toBe('"21"');
    // KV's copy, written by the writer at most once a second, catches up with the last write.
    await expect
      .poll(async () => (await call("GET", `/docs/${id}?consistent=0`)).json(), {
        timeout: 5000,
        interval: 200,
      })
      .toEqual({ title: "concurrent", fields });
  });

  it("writes with If-Match only at the named version, else answers 409 with the current version", async () => {
    const id = await createDoc({ n: 0 });
    const read = await call("GET", `/docs/${id}`);
    expect(read.headers.get("etag")).toBe('"1"');
    const first = await put(id, "n", 1, '"1"');
    expect(first.status).toBe(200);
    expect(first.headers.get("etag")).toBe('"2"');
    expect(await first.json()).toEqual({ id, path: "n", value: 1 });

    const stale = await put(id, "n", 2, '"1"');
    expect(stale.status).toBe(409);
    expect(await stale.json()).toEqual({
      error: `document ${id} is at version 2, not 1: read it again and retry`,
      currentVersion: 2,
    });
    const now = await call("GET", `/docs/${id}?consistent=1`);
    expect(await now.json()).toEqual({ n: 1 });
    expect(now.headers.get("etag")).toBe('"2"');

    expect((await put(id, "n", 3, "2")).status).toBe(400);
    expect((await put("NO-SUCH-DOC", "n", 3, '"0"')).status).toBe(404);
  });
});

describe("framework demo: document statistics by cron", () => {
  /** Every document id, in order, by following the list's cursors. */
  async function allIds(): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ limit: "100", ...(cursor ? { cursor } : {}) });
      const page = (await (await call("GET", `/docs?${query}`)).json()) as {
        docs: { id: string }[];
        cursor?: string;
        complete: boolean;
      };
      ids.push(...page.docs.map((d) => d.id));
      cursor = page.complete ? undefined : page.cursor;
    } while (cursor);
    return ids;
  }

  it("recomputes GET /stats when the declared cron fires, counting every document", async () => {
    await createDoc({ for: "stats" });
    const at = new Date(Date.UTC(2026, 10, 23, 12, 5));
    expect(await target.fireCrons(at)).toContain(`${demoName} */5 * * * *`);
    const ids = await allIds();
    const stats = await call("GET", "/stats");
    expect(stats.status).toBe(200);
    expect(await stats.json()).toEqual({
      documents: ids.length,
      oldest: ids[0],
      newest: ids.at(-1),
      // The local target also fires the cron every fifth minute of the wall clock.
      computedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d[05]:00\.000Z$/),
      cron: "*/5 * * * *",
    });

    await createDoc({ for: "stats", n: 2 });
    expect(await target.fireCrons(new Date(Date.UTC(2026, 10, 23, 12, 10)))).toContain(
      `${demoName} */5 * * * *`,
    );
    const after = (await (await call("GET", "/stats")).json()) as { documents: number; newest: string };
    expect(after.documents).toBe(ids.length + 1);
    expect(after.newest).toBe((await allIds()).at(-1));
  });

  it("does not fire the stats cron at a minute its expression does not match", async () => {
    const fired = await target.fireCrons(new Date(Date.UTC(2026, 10, 23, 12, 7)));
    expect(fired).not.toContain(`${demoName} */5 * * * *`);
  });
});

describe("framework demo: rate limiter per user", () => {
  it("counts a user's hits and answers 429 with Retry-After past 5 a minute, without touching another user", async () => {
    const user = `user-${Date.now()}`;
    for (let count = 1; count <= 5; count++) {
      const res = await call("POST", `/users/${user}/hits`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ user, count, limit: 5, remaining: 5 - count });
    }
    const refused = await call("POST", `/users/${user}/hits`);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({ user, count: 5, limit: 5 });
    const other = await call("POST", `/users/${user}-other/hits`);
    expect(await other.json()).toMatchObject({ count: 1 });
  });
});

describe("framework demo: sessions that expire", () => {
  it("creates a session in a new object, reads it by its id, and answers 404 once its ttl has passed", async () => {
    const res = await call("POST", "/sessions", { user: "ada", ttlSeconds: 1 });
    expect(res.status).toBe(201);
    const session = (await res.json()) as { id: string; user: string; createdAt: string; expiresAt: string };
    expect(res.headers.get("x-object-id")).toBe(session.id);
    expect(session.id).toMatch(/^[0-9a-f]{64}$/);
    expect(session.user).toBe("ada");
    expect(Date.parse(session.expiresAt) - Date.parse(session.createdAt)).toBe(1000);
    expect(await (await call("GET", `/sessions/${session.id}`)).json()).toEqual(session);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const expired = await call("GET", `/sessions/${session.id}`);
    expect(expired.status).toBe(404);
    expect(await expired.json()).toEqual({ error: `session ${session.id} does not exist or has expired` });
  });

  it("ends a session on DELETE, and refuses a bad body and an id that is not the namespace's", async () => {
    const { id } = (await (await call("POST", "/sessions", { user: "grace" })).json()) as { id: string };
    expect((await call("DELETE", `/sessions/${id}`)).status).toBe(204);
    expect((await call("GET", `/sessions/${id}`)).status).toBe(404);
    expect((await call("POST", "/sessions", { user: "", ttlSeconds: 0 })).status).toBe(400);
    expect((await call("GET", "/sessions/not-an-id")).status).toBe(400);
  });
});

describe("framework demo: live rooms", () => {
  it("answers 426 to a plain request on the WebSocket route", async () => {
    expect((await call("GET", "/rooms/lobby/ws?user=ada")).status).toBe(426);
  });

  it("broadcasts each message to every member of the room, the sender included, and lists who is in it", async () => {
    const room = `room-${Date.now()}`;
    const join = async (user: string) => {
      const res = await miniflareFetch(new URL(`/rooms/${room}/ws?user=${user}`, demo), {
        headers: { upgrade: "websocket" },
      });
      expect(res.status).toBe(101);
      const socket = res.webSocket!;
      const messages: unknown[] = [];
      socket.addEventListener("message", (event) => messages.push(JSON.parse(event.data as string)));
      socket.accept();
      return { socket, messages };
    };
    const ada = await join("ada");
    const bob = await join("bob");
    await expect.poll(() => ada.messages).toEqual([expect.objectContaining({ type: "joined", user: "bob" })]);
    expect(await (await call("GET", `/rooms/${room}`)).json()).toEqual({ members: ["ada", "bob"] });
    ada.socket.send("hello");
    const hello = expect.objectContaining({ type: "message", from: "ada", text: "hello" });
    await expect.poll(() => bob.messages).toEqual([hello]);
    await expect.poll(() => ada.messages.at(-1)).toEqual(hello);
    bob.socket.close(1000, "bye");
    await expect
      .poll(() => ada.messages.at(-1))
      .toEqual(expect.objectContaining({ type: "left", user: "bob" }));
    ada.socket.close(1000);
  });
});
