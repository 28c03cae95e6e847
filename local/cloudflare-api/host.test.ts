import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { commandOf, descendants } from "../../test/processes";
import { workerVersion } from "../../test/worker-version";
import { REFUSED } from "./bindings";
import { createWorkerHost } from "./host";
import { UploadRefused, type WorkerHost, type WorkerVersion, workersDevSubdomain } from "./types";

const ACCOUNT = "0123abcdACC";
const SUBDOMAIN = workersDevSubdomain(ACCOUNT);
const tmp = mkdtempSync(path.join(os.tmpdir(), "cf-host-"));
const hosts: WorkerHost[] = [];
const lines: string[] = [];
const timings = {
  "check (plain Worker)": [] as number[],
  "check (KV, R2, D1, Durable Object)": [] as number[],
  "check or deploy refused (workerd fails)": [] as number[],
  "deploy (first version, plain Worker)": [] as number[],
  "deploy (swap under load, 300 ms requests in flight)": [] as number[],
  "deploy (swap, KV, R2, D1, Durable Object)": [] as number[],
};

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  const stats = (xs: number[]) =>
    xs.length === 0
      ? "n/a"
      : `min ${Math.min(...xs)} ms, median ${[...xs].sort((a, b) => a - b)[xs.length >> 1]} ms, max ${Math.max(...xs)} ms (${xs.length})`;
  console.log(
    Object.entries(timings)
      .map(([kind, xs]) => `${kind}: ${stats(xs)}`)
      .join("\n"),
  );
});

const workerdProcesses = () => descendants(process.pid).filter((pid) => commandOf(pid) === "workerd");

function newHost(dataDir: string, extra: { portFile?: string; onChange?: () => void } = {}) {
  const host = createWorkerHost({ dataDir, log: (l) => lines.push(l), ...extra });
  hosts.push(host);
  return host;
}

const timed = async (kind: keyof typeof timings, run: () => Promise<void>) => {
  const t = performance.now();
  await run();
  timings[kind].push(Math.round(performance.now() - t));
};

let number = 0;
function version(scriptName: string, source: string, over: Partial<WorkerVersion> = {}): WorkerVersion {
  const id = randomUUID();
  const dir = path.join(tmp, "store", id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "index.js"), source);
  return workerVersion({
    id,
    accountId: ACCOUNT,
    scriptName,
    number: ++number,
    createdOn: new Date().toISOString(),
    modules: [{ name: "index.js", type: "esm", path: path.join(dir, "index.js") }],
    ...over,
  });
}

/** A Worker that answers its tag on `/`, and the host name it was asked for on `/host`. */
const tagged = (tag: string) => `export default { async fetch(request) {
  const url = new URL(request.url);
  if (url.pathname === "/host") return new Response(url.host);
  if (url.pathname === "/echo") {
    return new Response(request.method + " " + (await request.text()) + " " + request.headers.get("x-test"), {
      status: 201,
      headers: { "x-answer": "yes" },
    });
  }
  if (url.pathname === "/slow") await new Promise((r) => setTimeout(r, 300));
  return new Response(${JSON.stringify(tag)});
} };`;

/** A Worker that writes (`/put?v=`) and reads (`/get`) KV, R2, D1 and a Durable Object of class `cls`. */
const storing = (tag: string, cls: string) => `import { DurableObject } from "cloudflare:workers";
export class ${cls} extends DurableObject {
  fetch(request) {
    const v = new URL(request.url).searchParams.get("v");
    if (v !== null) this.ctx.storage.kv.put("v", v);
    return new Response(String(this.ctx.storage.kv.get("v") ?? ""));
  }
}
export default { async fetch(request, env) {
  const url = new URL(request.url);
  const room = env.ROOMS.get(env.ROOMS.idFromName("room"));
  if (url.pathname === "/put") {
    const v = url.searchParams.get("v");
    await env.KV.put("k", v);
    await env.BUCKET.put("o", v);
    await env.DB.exec("CREATE TABLE IF NOT EXISTS t (v TEXT)");
    await env.DB.prepare("INSERT INTO t VALUES (?)").bind(v).run();
    await room.fetch("http://do/?v=" + encodeURIComponent(v));
    return new Response("ok");
  }
  const object = await env.BUCKET.get("o");
  const rows = await env.DB.prepare("SELECT v FROM t").all().catch(() => ({ results: [] }));
  return Response.json({
    tag: ${JSON.stringify(tag)},
    kv: await env.KV.get("k"),
    r2: object && (await object.text()),
    d1: rows.results.map((r) => r.v),
    do: await (await room.fetch("http://do/")).text(),
  });
} };`;

const storageBindings = (cls: string): Partial<WorkerVersion> => ({
  bindings: [
    { type: "kv_namespace", name: "KV", namespace_id: "kv-1" },
    { type: "r2_bucket", name: "BUCKET", bucket_name: "files" },
    { type: "d1", name: "DB", id: "db-1" },
    { type: "durable_object_namespace", name: "ROOMS", class_name: cls },
  ],
  durableObjectClasses: [{ className: cls, sqlite: true }],
  hasPreview: false,
});

const hostRequest = (host: string, pathname = "/") =>
  new Request(`http://${host}${pathname}`, { headers: { host: `${host}:8787` } });

async function text(url: string) {
  const response = await fetch(url);
  return response.text();
}

describe("the Worker host", () => {
  it("serves a deployed version on its own port and by its workers.dev host name; 404 elsewhere", async () => {
    const changes: string[] = [];
    const host = newHost(path.join(tmp, "basic"), { onChange: () => changes.push("change") });
    expect(host.urlOf(ACCOUNT, "hello")).toBeUndefined();
    const v1 = version("hello", tagged("v1"));
    await timed("check (plain Worker)", () => host.check(v1));
    await timed("deploy (first version, plain Worker)", () => host.deploy(v1));
    expect(changes).toEqual(["change"]);
    const url = host.urlOf(ACCOUNT, "hello");
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await text(`${url}/`)).toBe("v1");

    const name = `hello.${SUBDOMAIN}.workers.dev`;
    const viaHost = await host.dispatch(hostRequest(name));
    expect(viaHost.status).toBe(200);
    expect(await viaHost.text()).toBe("v1");
    expect(await (await host.dispatch(hostRequest(name, "/host"))).text()).toBe(`${name}:8787`);

    const big = "x".repeat(1 << 20);
    const posted = await fetch(`${url}/echo`, { method: "POST", body: big, headers: { "x-test": "t" } });
    expect([posted.status, posted.headers.get("x-answer"), await posted.text()]).toEqual([
      201,
      "yes",
      `POST ${big} t`,
    ]);
    const dispatched = await host.dispatch(
      new Request(`http://${name}/echo`, {
        method: "PUT",
        body: "b",
        headers: { host: name, "x-test": "u" },
      }),
    );
    expect([dispatched.status, dispatched.headers.get("x-answer"), await dispatched.text()]).toEqual([
      201,
      "yes",
      "PUT b u",
    ]);

    for (const other of [`nope.${SUBDOMAIN}.workers.dev`, "hello.other.workers.dev", "example.com"]) {
      const missing = await host.dispatch(hostRequest(other));
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ success: false, errors: [{ code: 10007 }], result: null });
    }
  });

  it("moves traffic from v1 to v2 to v3 with no failed request and never back", async () => {
    const host = newHost(path.join(tmp, "swap"));
    await host.deploy(version("swap", tagged("v1")));
    const url = host.urlOf(ACCOUNT, "swap")!;
    let stop = false;
    let newest = 0;
    const seen: number[] = [];
    const problems: string[] = [];
    const poll = async (slow: boolean) => {
      while (!stop) {
        const floor = newest;
        try {
          const response = await fetch(`${url}/${slow ? "slow" : ""}`);
          const body = await response.text();
          const n = Number(/^v(\d)$/.exec(body)?.[1]);
          if (response.status !== 200 || !(n >= 1 && n <= 3)) problems.push(`${response.status} ${body}`);
          else if (n < floor) problems.push(`v${n} after v${floor}`);
          else {
            newest = Math.max(newest, n);
            seen.push(n);
          }
        } catch (error) {
          problems.push(String(error));
        }
      }
    };
    const pollers = [poll(false), poll(false), poll(false), poll(true), poll(true)];
    await new Promise((r) => setTimeout(r, 300));
    await timed("deploy (swap under load, 300 ms requests in flight)", () =>
      host.deploy(version("swap", tagged("v2"))),
    );
    await new Promise((r) => setTimeout(r, 300));
    await timed("deploy (swap under load, 300 ms requests in flight)", () =>
      host.deploy(version("swap", tagged("v3"))),
    );
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await Promise.all(pollers);
    console.log(lines.filter((l) => l.startsWith("[swap] version")).join("\n"));
    expect(problems).toEqual([]);
    expect(host.urlOf(ACCOUNT, "swap")).toBe(url);
    expect(new Set(seen)).toEqual(new Set([1, 2, 3]));
    expect(seen.length).toBeGreaterThan(30);
  }, 30_000);

  it("forwards WebSockets through the script's port; a deploy closes them; deploys of a script queue", async () => {
    const ws = (tag: string) => `export default { fetch(request) {
      if (request.headers.get("upgrade") !== "websocket") return new Response(${JSON.stringify(tag)});
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", (e) => server.send(${JSON.stringify(tag)} + ":" + e.data));
      return new Response(null, { status: 101, webSocket: client });
    } };`;
    const host = newHost(path.join(tmp, "ws"));
    await host.deploy(version("ws", ws("v1")));
    const port = Number(new URL(host.urlOf(ACCOUNT, "ws")!).port);
    const request = http.request({
      host: "127.0.0.1",
      port,
      path: "/chat",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        "sec-websocket-version": "13",
      },
    });
    request.end();
    const [response, socket] = await new Promise<[http.IncomingMessage, Socket]>((resolve, reject) => {
      request.once("upgrade", (res, sock) => resolve([res, sock]));
      request.once("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    });
    expect(response.statusCode).toBe(101);
    const payload = Buffer.from("hi");
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    const answered = new Promise<Buffer>((resolve) => socket.once("data", resolve));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    const frame = await answered;
    expect(frame.subarray(2, 2 + frame[1]!).toString()).toBe("v1:hi");
    const closed = new Promise((resolve) => socket.once("close", resolve));

    // Two deploys at once run one after the other: the later call wins.
    await Promise.all([host.deploy(version("ws", ws("v2"))), host.deploy(version("ws", ws("v3")))]);
    await closed;
    expect(await text(`${host.urlOf(ACCOUNT, "ws")}/`)).toBe("v3");
  });

  it("refuses a version that throws at the top level or does not parse, in check and in deploy", async () => {
    const host = newHost(path.join(tmp, "refuse"));
    await host.deploy(version("refuse", tagged("good")));
    const before = workerdProcesses().length;
    const broken = [
      {
        source: `throw new Error("boom at the top");\nexport default {};`,
        message: /Uncaught Error: boom at the top/,
      },
      { source: "export default { fetch( { ", message: /SyntaxError/ },
    ];
    for (const { source, message } of broken) {
      const bad = version("refuse", source);
      for (const attempt of [() => host.check(bad), () => host.deploy(bad)]) {
        const t = performance.now();
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        timings["check or deploy refused (workerd fails)"].push(Math.round(performance.now() - t));
        expect(error).toBeInstanceOf(UploadRefused);
        expect((error as UploadRefused).code).toBe(REFUSED.module);
        expect((error as UploadRefused).message).toMatch(message);
        expect(await text(`${host.urlOf(ACCOUNT, "refuse")}/`)).toBe("good");
      }
    }
    expect(workerdProcesses().length).toBe(before);
    const binding = version("refuse", tagged("x"), {
      bindings: [{ type: "queue", name: "Q", queue_name: "q" }],
    });
    await expect(host.check(binding)).rejects.toMatchObject({ code: REFUSED.binding });
    await expect(host.deploy(binding)).rejects.toThrow(/binding Q of type queue/);
  });

  it("keeps KV, R2, D1 and Durable Object data across versions and a restart, on the same port", async () => {
    const dataDir = path.join(tmp, "data");
    const portFile = path.join(tmp, "data-ports.json");
    const first = newHost(dataDir, { portFile });
    await first.deploy(version("store", storing("v1", "Room"), storageBindings("Room")));
    const url = first.urlOf(ACCOUNT, "store")!;
    expect(await text(`${url}/put?v=one`)).toBe("ok");
    const v2 = version("store", storing("v2", "Room"), storageBindings("Room"));
    await timed("check (KV, R2, D1, Durable Object)", () => first.check(v2));
    await timed("deploy (swap, KV, R2, D1, Durable Object)", () => first.deploy(v2));
    const expected = { tag: "v2", kv: "one", r2: "one", d1: ["one"], do: "one" };
    expect(JSON.parse(await text(`${url}/get`))).toEqual(expected);
    // Another script of the account sees the same namespace, bucket and database (its own Durable Objects).
    await first.deploy(version("reader", storing("reader", "Room"), storageBindings("Room")));
    expect(JSON.parse(await text(`${first.urlOf(ACCOUNT, "reader")}/get`))).toEqual({
      ...expected,
      tag: "reader",
      do: "",
    });
    expect(JSON.parse(readFileSync(portFile, "utf8"))).toEqual({
      [`${ACCOUNT}/store`]: Number(new URL(url).port),
      [`${ACCOUNT}/reader`]: expect.any(Number),
    });
    expect(existsSync(path.join(dataDir, ACCOUNT, "scripts", "store", "do", "store-Room"))).toBe(true);
    await first.close();

    const second = newHost(dataDir, { portFile });
    await second.deploy(v2);
    expect(second.urlOf(ACCOUNT, "store")).toBe(url);
    expect(JSON.parse(await text(`${url}/get`))).toEqual(expected);
    await second.close();

    // A port taken meanwhile: another one, remembered from then on.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(Number(new URL(url).port), "127.0.0.1", resolve));
    try {
      const third = newHost(dataDir, { portFile });
      await third.deploy(v2);
      const moved = third.urlOf(ACCOUNT, "store")!;
      expect(moved).not.toBe(url);
      expect(JSON.parse(await text(`${moved}/get`))).toEqual(expected);
      expect(JSON.parse(readFileSync(portFile, "utf8"))[`${ACCOUNT}/store`]).toBe(
        Number(new URL(moved).port),
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  }, 30_000);

  it("serves previews on their own host names while production keeps the old code; at most 3 run", async () => {
    const host = newHost(path.join(tmp, "preview"));
    await host.deploy(version("site", tagged("prod")));
    const previews = [1, 2, 3, 4].map((n) =>
      version("site", tagged(`preview ${n}`), n === 2 ? { annotations: { "workers/alias": "feature" } } : {}),
    );
    const before = workerdProcesses().length;
    for (const p of previews) await host.preview(p);
    expect(workerdProcesses().length).toBe(before + 3);
    const previewHost = (p: WorkerVersion) => `${p.id.slice(0, 8)}-site.${SUBDOMAIN}.workers.dev`;
    expect(await (await host.dispatch(hostRequest(previewHost(previews[3]!)))).text()).toBe("preview 4");
    expect(await (await host.dispatch(hostRequest(`feature-site.${SUBDOMAIN}.workers.dev`))).text()).toBe(
      "preview 2",
    );
    // The first was disposed as the fourth started: it starts again on demand, another one stops.
    expect(await (await host.dispatch(hostRequest(previewHost(previews[0]!)))).text()).toBe("preview 1");
    expect(workerdProcesses().length).toBe(before + 3);
    expect(await (await host.dispatch(hostRequest(`site.${SUBDOMAIN}.workers.dev`))).text()).toBe("prod");
    expect(await text(`${host.urlOf(ACCOUNT, "site")}/`)).toBe("prod");
    const unknown = await host.dispatch(hostRequest(`0000abcd-site.${SUBDOMAIN}.workers.dev`));
    expect(unknown.status).toBe(404);
  }, 30_000);

  it("keeps a Durable Object class's data through a rename, drops it on delete, refuses transfers", async () => {
    const host = newHost(path.join(tmp, "migrate"));
    const doOnly = (cls: string) => ({
      bindings: [{ type: "durable_object_namespace", name: "ROOMS", class_name: cls }],
      durableObjectClasses: [{ className: cls, sqlite: true }],
      hasPreview: false,
    });
    const source = (cls: string) => `import { DurableObject } from "cloudflare:workers";
export class ${cls} extends DurableObject {
  fetch(request) {
    const v = new URL(request.url).searchParams.get("v");
    if (v !== null) this.ctx.storage.kv.put("v", v);
    return new Response(${JSON.stringify(cls)} + ":" + String(this.ctx.storage.kv.get("v") ?? ""));
  }
}
export default { fetch(request, env) { return env.ROOMS.get(env.ROOMS.idFromName("a")).fetch(request); } };`;
    await host.migrate(ACCOUNT, "rooms", [{ new_sqlite_classes: ["Counter"] }]);
    await host.deploy(version("rooms", source("Counter"), doOnly("Counter")));
    const url = host.urlOf(ACCOUNT, "rooms")!;
    expect(await text(`${url}/?v=kept`)).toBe("Counter:kept");

    await host.migrate(ACCOUNT, "rooms", [{ renamed_classes: [{ from: "Counter", to: "Room" }] }]);
    await host.deploy(version("rooms", source("Room"), doOnly("Room")));
    expect(await text(`${url}/`)).toBe("Room:kept");

    // A new class under the old name starts empty: the renamed class's data is not its.
    await host.migrate(ACCOUNT, "rooms", [{ new_sqlite_classes: ["Counter"] }]);
    await host.deploy(version("rooms", source("Counter"), doOnly("Counter")));
    expect(await text(`${url}/`)).toBe("Counter:");
    expect(await text(`${url}/?v=second`)).toBe("Counter:second");

    const doDir = path.join(tmp, "migrate", ACCOUNT, "scripts", "rooms", "do");
    expect(existsSync(path.join(doDir, "rooms-Counter"))).toBe(true);
    await host.migrate(ACCOUNT, "rooms", [
      { deleted_classes: ["Room"] },
      { renamed_classes: [{ from: "Counter", to: "Room" }] },
    ]);
    await host.deploy(version("rooms", source("Room"), doOnly("Room")));
    expect(await text(`${url}/`)).toBe("Room:second");
    expect(existsSync(path.join(doDir, "rooms-Counter"))).toBe(false);

    await expect(
      host.migrate(ACCOUNT, "rooms", [
        { transferred_classes: [{ from: "A", from_script: "other", to: "B" }] },
      ]),
    ).rejects.toMatchObject({ name: "UploadRefused", code: REFUSED.migration });
  }, 30_000);

  it("a deployed Worker reaches nothing of this machine: not its loopback, nor its own addresses", async () => {
    const listener = http.createServer((_, res) => res.end("reached"));
    await new Promise<void>((resolve) => listener.listen(0, "0.0.0.0", resolve));
    const port = (listener.address() as AddressInfo).port;
    const own = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    try {
      const host = newHost(path.join(tmp, "outbound"));
      const probe = `export default { async fetch(request) {
        const target = new URL(request.url).searchParams.get("to");
        try { return new Response(await (await fetch(target)).text()); }
        catch (error) { return new Response("refused: " + error.message); }
      } };`;
      await host.deploy(version("prober", probe));
      const url = host.urlOf(ACCOUNT, "prober") as string;
      // The test's own request reaches the listener, so a refusal below is the Worker's.
      expect(await text(`http://127.0.0.1:${port}/`)).toBe("reached");
      for (const target of [
        `http://127.0.0.1:${port}/`,
        `http://localhost:${port}/`,
        own && `http://${own}:${port}/`,
      ]) {
        if (!target) continue;
        expect(await text(`${url}/?to=${encodeURIComponent(target)}`), target).toMatch(/^error code: 1003\n/);
      }
    } finally {
      listener.close();
    }
  });

  it("removes a script with its data; close() leaves no workerd process", async () => {
    const dataDir = path.join(tmp, "remove");
    const changes: string[] = [];
    const host = newHost(dataDir, { onChange: () => changes.push("change") });
    await host.deploy(version("gone", storing("v1", "Room"), storageBindings("Room")));
    await host.deploy(version("stays", tagged("stays")));
    await host.preview(version("stays", tagged("preview")));
    const url = host.urlOf(ACCOUNT, "gone")!;
    expect(await text(`${url}/put?v=x`)).toBe("ok");
    await host.remove(ACCOUNT, "gone");
    expect(changes).toEqual(["change", "change", "change"]);
    expect(host.urlOf(ACCOUNT, "gone")).toBeUndefined();
    expect(existsSync(path.join(dataDir, ACCOUNT, "scripts", "gone"))).toBe(false);
    await expect(fetch(`${url}/`)).rejects.toThrow();
    expect(workerdProcesses().length).toBeGreaterThan(0);
    await host.close();
    expect(workerdProcesses()).toEqual([]);
  });
});
