import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { rows } from "../../test/postgres";
import { commandOf, descendants } from "../../test/processes";
import { REPO_ROOT } from "../stack-file";
import { type LocalTarget, processAlive, startLocalTarget } from "./runner";

const FIXTURE = path.join(REPO_ROOT, "test", "fixtures", "local-program");
const ENTRY = path.join(FIXTURE, "index.ts");
const MAIN = "local-fixture-local-main";

function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "wp-target-"));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its data folder
  return dir;
}

/** PID of the PostgreSQL server that owns a data folder, from its postmaster.pid. */
function postgresPid(dir: string): number {
  return Number(readFileSync(path.join(dir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const quiet = () => {};

describe("local target on a program that uses every binding kind", () => {
  const dir = stateDir();
  let target: LocalTarget;
  const get = async (pathname: string, init?: RequestInit) => {
    const res = await fetch(`${target.workers[MAIN]}${pathname}`, init);
    expect(res.status, pathname).toBe(200);
    return res.json();
  };

  beforeAll(async () => {
    target = await startLocalTarget({ entry: ENTRY, stateDir: dir, log: quiet });
  }, 120_000);
  afterAll(async () => {
    await target?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves each Worker on a port of its own and writes endpoints.json", () => {
    expect(Object.keys(target.workers).sort()).toEqual([
      "local-fixture-local-main",
      "local-fixture-local-other",
    ]);
    const endpoints = JSON.parse(readFileSync(path.join(dir, "endpoints.json"), "utf8"));
    expect(endpoints).toEqual({
      workers: target.workers,
      postgres: target.postgres,
      entry: target.entryUrl.replace(/\/$/, ""),
      cloudflareApi: target.cloudflareApi.url,
      deployed: {},
    });
  });

  it.each([
    ["KV round trip", "/kv", { kv: "from kv" }],
    ["R2 put and get", "/r2", { r2: "from r2" }],
    ["a service-binding RPC call to a named entrypoint", "/service", { service: "pong to main" }],
    [
      "Hyperdrive reaching the migrated PostgreSQL schema as the app role",
      "/hyperdrive",
      { hyperdrive: ["seeded"] },
    ],
    [
      "plain vars, secrets and an Analytics Engine write",
      "/vars",
      { greeting: "hello", token: "fixture-token-value".length },
    ],
  ])("%s", async (_case, pathname, expected) => {
    expect(await get(pathname)).toEqual(expected);
  });

  it("Hyperdrive keeps its origin connections warm: more requests open no new backend", async () => {
    const pooled = async () =>
      (
        await rows(
          target.postgres ?? "",
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'local-hyperdrive' ORDER BY pid",
        )
      ).map((r) => r.pid as number);
    await get("/hyperdrive");
    const before = await pooled();
    expect(before.length).toBeGreaterThan(0);
    for (let i = 0; i < 10; i++) expect(await get("/hyperdrive")).toEqual({ hyperdrive: ["seeded"] });
    expect(await pooled()).toEqual(before);
  });

  it("D1 query after its migration", async () => {
    const { d1 } = (await get("/d1")) as { d1: number };
    expect(d1).toBeGreaterThanOrEqual(1);
  });

  it("a Durable Object RPC call across scripts keeps its count", async () => {
    const first = ((await get("/do")) as { do: number }).do;
    expect(((await get("/do")) as { do: number }).do).toBe(first + 1);
  });

  it("a queue message is consumed by the consumer Worker", async () => {
    expect(await get("/queue?id=m1", { method: "POST" })).toEqual({ queued: "m1" });
    const consumed = await waitFor("the queue consumer", async () => {
      const { consumed } = (await get("/queue?id=m1")) as { consumed: string | null };
      return consumed ?? undefined;
    });
    expect(consumed).toBe("yes");
  });

  it("deletes the R2 objects its bucket's expiry rule expires, and nothing else", async () => {
    const bucket = await target.mf.getR2Bucket("FILES", MAIN);
    await bucket.put("tmp/scratch.txt", "short-lived");
    await bucket.put("kept/report.txt", "kept");
    const bucketName = target.plan.workers.find((w) => w.name === MAIN)!.r2Buckets.FILES!;
    // Written a moment ago: the one-day rule expires nothing yet.
    expect(await target.expireR2Objects(new Date())).toEqual([{ bucketName, deleted: [] }]);
    const later = new Date(Date.now() + 25 * 3_600_000);
    expect(await target.expireR2Objects(later)).toEqual([{ bucketName, deleted: ["tmp/scratch.txt"] }]);
    expect(await bucket.get("tmp/scratch.txt")).toBeNull();
    expect(await (await bucket.get("kept/report.txt"))?.text()).toBe("kept");
  });

  it("fires a cron trigger's scheduled handler when its schedule matches", async () => {
    expect(await target.fireCrons(new Date())).toEqual([`${MAIN} * * * * *`]);
    expect(await get("/cron")).toEqual({ cron: "* * * * *" });
  });

  it("routes a custom domain by host name on the entry port", async () => {
    // fetch() does not let a caller set Host, so this goes through node:http.
    const entry = new URL(target.entryUrl);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get(
          { host: entry.hostname, port: entry.port, path: "/", headers: { host: "fixture.example.net" } },
          (res) => {
            let text = "";
            res.on("data", (d) => {
              text += d;
            });
            res.on("end", () => resolve(text));
          },
        )
        .on("error", reject);
    });
    expect(JSON.parse(body)).toEqual({ host: "fixture.example.net" });
  });

  it("lists what it does not emulate", () => {
    expect(target.plan.notEmulated.map((n) => n.type)).toContain(
      "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain",
    );
  });

  it("refuses a second start on the same state while one runs", async () => {
    await expect(startLocalTarget({ entry: ENTRY, stateDir: dir, log: quiet })).rejects.toThrow(
      /already running \(pid \d+/,
    );
  });
});

describe("local target data and lifecycle", () => {
  const dir = stateDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const counter = async (t: LocalTarget) =>
    ((await (await fetch(`${t.workers[MAIN]}/do`)).json()) as { do: number }).do;
  const kvValue = async (t: LocalTarget) =>
    ((await (await fetch(`${t.workers[MAIN]}/cron`)).json()) as { cron: string | null }).cron;

  it("keeps data across a restart, clears it with reset, and leaves no process behind", async () => {
    const first = await startLocalTarget({ entry: ENTRY, stateDir: dir, log: quiet });
    expect(await counter(first)).toBe(1);
    await first.fireCrons(new Date());
    const pgPid = postgresPid(dir);
    const url = first.workers[MAIN]!;
    await first.stop();
    expect(processAlive(pgPid)).toBe(false);
    await expect(fetch(url)).rejects.toThrow();
    expect(existsSync(path.join(dir, "target.lock"))).toBe(false);

    const second = await startLocalTarget({ entry: ENTRY, stateDir: dir, log: quiet });
    expect(await counter(second)).toBe(2); // Durable Object storage kept
    expect(await kvValue(second)).toBe("* * * * *"); // KV kept
    await second.stop();

    const lines: string[] = [];
    const reset = await startLocalTarget({
      entry: ENTRY,
      stateDir: dir,
      reset: true,
      log: (l) => lines.push(l),
    });
    expect(lines).toContain("reset: local data removed");
    expect(await counter(reset)).toBe(1);
    expect(await kvValue(reset)).toBeNull();
    await reset.stop();
  }, 180_000);

  it("fails on a bad config before anything starts", async () => {
    const bad = path.join(dir, "Pulumi.bad.yaml");
    writeFileSync(
      bad,
      readFileSync(path.join(REPO_ROOT, "stacks", "Pulumi.local.yaml"), "utf8").replace(
        /timeoutMinutes: \d+/,
        "timeoutMinutes: 0",
      ),
    );
    const empty = stateDir();
    await expect(startLocalTarget({ configFile: bad, stateDir: empty, log: quiet })).rejects.toThrow(
      /invalid stack config:\n {2}- builds\.timeoutMinutes: must be between 1 and 120 \(got number\)/,
    );
    expect(existsSync(path.join(empty, "postgres"))).toBe(false);
    expect(existsSync(path.join(empty, "target.lock"))).toBe(false);
    rmSync(empty, { recursive: true, force: true });
  });

  it("names a resource type it does not know and starts nothing", async () => {
    const program = path.join(REPO_ROOT, "test", "fixtures", "unknown-program", "index.ts");
    const empty = stateDir();
    await expect(startLocalTarget({ entry: program, stateDir: empty, log: quiet })).rejects.toThrow(
      /WorkersForPlatformsDispatchNamespace.*tenants/,
    );
    expect(existsSync(path.join(empty, "postgres"))).toBe(false);
    rmSync(empty, { recursive: true, force: true });
  });
});

describe("local target after a crash", () => {
  it("starts again, data intact, after npm start was killed with SIGKILL", async () => {
    const dir = stateDir();
    try {
      const args = [
        "-r",
        "./local/register.cjs",
        "local/start-cli.ts",
        "--program",
        ENTRY,
        "--state-dir",
        dir,
      ];
      const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout?.on("data", (d) => {
        output += d;
      });
      await waitFor("the first start", async () => (/ready in/.test(output) ? true : undefined), 90_000);
      const { workers } = JSON.parse(readFileSync(path.join(dir, "endpoints.json"), "utf8"));
      expect(await (await fetch(`${workers[MAIN]}/do`)).json()).toEqual({ do: 1 });
      const workerds = descendants(child.pid!).filter((pid) => commandOf(pid) === "workerd");
      expect(workerds).toHaveLength(1);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      // workerd runs tethered to the target's process: the kernel stops it when its parent dies.
      await waitFor("the killed target's workerd to stop", async () =>
        workerds.every((pid) => !processAlive(pid)) ? true : undefined,
      );

      const target = await startLocalTarget({ entry: ENTRY, stateDir: dir, log: quiet });
      try {
        expect(await (await fetch(`${target.workers[MAIN]}/do`)).json()).toEqual({ do: 2 });
        expect(await (await fetch(`${target.workers[MAIN]}/hyperdrive`)).json()).toEqual({
          hyperdrive: ["seeded"],
        });
      } finally {
        await target.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

describe("local target with an external PostgreSQL", () => {
  it("applies the graph to the server given by URL and starts no server of its own", async () => {
    const dir = stateDir();
    const target = await startLocalTarget({
      entry: ENTRY,
      stateDir: dir,
      databaseUrl: inject("postgresUrl"),
      log: quiet,
    });
    try {
      expect(target.postgres).toBe(inject("postgresUrl"));
      expect(existsSync(path.join(dir, "postgres"))).toBe(false);
      const res = await fetch(`${target.workers[MAIN]}/hyperdrive`);
      expect(await res.json()).toEqual({ hyperdrive: ["seeded"] });
    } finally {
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("npm start on the repository's local stack", () => {
  const dir = stateDir();
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(["SIGINT", "SIGTERM"] as const)(
    "comes up, every Worker answers, and %s stops workerd and PostgreSQL",
    async (signal) => {
      let output = "";
      child = spawn(
        process.execPath,
        ["-r", "./local/register.cjs", "local/start-cli.ts", "--state-dir", dir],
        {
          cwd: REPO_ROOT,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      child.stdout?.on("data", (d) => {
        output += d;
      });
      child.stderr?.on("data", (d) => {
        output += d;
      });
      await waitFor(
        "npm start to be ready",
        async () => (/ready in/.test(output) ? true : undefined),
        90_000,
      );
      const { workers } = JSON.parse(readFileSync(path.join(dir, "endpoints.json"), "utf8")) as {
        workers: Record<string, string>;
      };
      expect(Object.keys(workers).sort()).toEqual([
        "workers-platform-local-builds-client",
        "workers-platform-local-builds-management",
        "workers-platform-local-demo-worker",
      ]);
      for (const [name, url] of Object.entries(workers))
        expect(output).toMatch(new RegExp(`${name}\\s+${url}`));
      const health = await fetch(`${workers["workers-platform-local-builds-client"]}/api/health`);
      expect(await health.json()).toMatchObject({ success: true, result: { ok: true } });
      expect((await fetch(`${workers["workers-platform-local-builds-management"]}/health`)).status).toBe(200);
      expect((await fetch(workers["workers-platform-local-demo-worker"]!)).status).toBe(200);
      expect(output).toMatch(/not emulated locally: .*WorkersScriptSubdomain/);

      const pgPid = postgresPid(dir);
      const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
      child.kill(signal);
      await exited;
      await waitFor("PostgreSQL to stop", async () => (processAlive(pgPid) ? undefined : true));
      expect(existsSync(path.join(dir, "target.lock"))).toBe(false);
      await expect(fetch(workers["workers-platform-local-builds-client"]!)).rejects.toThrow();
    },
    120_000,
  );
});

describe("local target whose start fails once workerd is starting", () => {
  it("stops what it started, workerd included, and releases the lock", async () => {
    const dir = stateDir();
    // Accepts connections and drops each a moment later: applying the graph fails while workerd starts.
    const sockets = new Set<Socket>();
    const dropping = createServer((socket) => {
      sockets.add(socket);
      setTimeout(() => socket.destroy(), 1_500);
    });
    await new Promise<void>((resolve) => dropping.listen(0, "127.0.0.1", resolve));
    const { port } = dropping.address() as AddressInfo;
    try {
      const lines: string[] = [];
      await expect(
        startLocalTarget({
          entry: ENTRY,
          stateDir: dir,
          databaseUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
          log: (l) => lines.push(l),
        }),
      ).rejects.toThrow(/Connection terminated/);
      expect(lines).toContain("starting workerd with 2 Worker(s)");
      expect(lines.some((l) => l.startsWith("ready in"))).toBe(false);
      expect(descendants(process.pid).filter((pid) => commandOf(pid) === "workerd")).toEqual([]);
      expect(existsSync(path.join(dir, "target.lock"))).toBe(false);
      expect(existsSync(path.join(dir, "endpoints.json"))).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => dropping.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
