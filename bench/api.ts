import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import pg from "pg";
import { bundleWorker } from "../components/bundle";
import { hyperdriveOriginUrl } from "../local/target/postgres-apply";
import { client } from "../test/builds/http";
import { startBuildsPlatform } from "../test/builds-harness";
import { load as closedLoop, type Load, rps, type Target } from "./load";
import { percentile, sleep } from "./stats";

/**
 * API throughput: requests per second and latency of `GET /api/workers/:worker/builds` (bearer token,
 * PostgreSQL through Hyperdrive, a Worker with 200 builds) under a closed-loop load generator in this
 * process, against two baselines on the same workerd binary and machine: the Client Worker's own
 * `/api/health` (its middleware, no token, no database) and a bare Hono route in a Miniflare of its own.
 * Floors of the route's design: a Worker that only opens and closes the client it opens per request
 * through a Hyperdrive binding pointed at the same local Hyperdrive (the socket driven by hand, then
 * node-postgres' connect and end); Node alone opening a client per request through the local Hyperdrive
 * and running one page query; and the same with a PostgreSQL server connection of its own per request,
 * which is what every request paid before the local Hyperdrive pooled. Routes take turns, round by round,
 * so that each sees the same machine load. Each route's CPU time a request is reported for this process
 * (load generator and the local Hyperdrive's pool), workerd and PostgreSQL.
 */
const CONCURRENCY = Number(process.env.BENCH_API_CONCURRENCY ?? 16);
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_API_ROUNDS ?? 2);
const BUILDS = Number(process.env.BENCH_API_BUILDS ?? 200);
const WARMUP_MS = 1000;
const ACCOUNT = "bench-api";
const BARE_ENTRY = path.join(__dirname, "workers", "bare-hono.ts");
const PROBE_ENTRY = path.join(__dirname, "workers", "hyperdrive-probe.ts");

const get =
  (url: string, headers: Record<string, string> = {}) =>
  async (): Promise<boolean> => {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    return res.status === 200;
  };

interface Cpu {
  node: number;
  workerd: number;
  postgres: number;
}

/**
 * CPU time in ms used so far by this process (the load generator, and the local target's pool) and by
 * its workerd and PostgreSQL descendants, from Linux's /proc; backends that exited count in their
 * postmaster's children's time.
 */
function cpuMs(): Cpu {
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      procs.set(Number(entry), {
        ppid: Number(f[1]),
        comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")),
        ticks,
      });
    } catch {
      // gone meanwhile
    }
  }
  const mine = (pid: number) => {
    for (let p = procs.get(pid)?.ppid ?? 0; p > 1; p = procs.get(p)?.ppid ?? 0)
      if (p === process.pid) return true;
    return false;
  };
  const usage = process.cpuUsage();
  const cpu: Cpu = { node: (usage.user + usage.system) / 1000, workerd: 0, postgres: 0 };
  for (const [pid, p] of procs)
    if ((p.comm === "workerd" || p.comm === "postgres") && mine(pid)) cpu[p.comm] += p.ticks * 10; // 100 ticks a second
  return cpu;
}

/**
 * The baseline's bare Hono route, and the probe of what opening a client through a Hyperdrive binding
 * costs a Worker, its binding pointed at the platform's local Hyperdrive: two Workers in a Miniflare of
 * their own.
 */
async function bareWorkers(hyperdriveUrl: string): Promise<{ bare: string; probe: string; mf: Miniflare }> {
  const [bare, probe] = await Promise.all([
    bundleWorker(BARE_ENTRY, { nodejsCompat: false }),
    bundleWorker(PROBE_ENTRY, { nodejsCompat: true }),
  ]);
  const worker = (name: string, contents: string) => ({
    name,
    modules: [{ type: "ESModule" as const, path: "index.js", contents }],
    compatibilityDate: "2026-10-01",
    compatibilityFlags: ["nodejs_compat"],
    // As the local target serves each Worker: its own socket, not through Miniflare's entry Worker.
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers: [
        worker("bare", bare.content),
        { ...worker("probe", probe.content), hyperdrives: { HYPERDRIVE: hyperdriveUrl } },
      ],
    }),
  );
  const url = async (name: string) => (await mf.unsafeGetDirectURL(name)).toString().replace(/\/$/, "");
  return { bare: await url("bare"), probe: await url("probe"), mf };
}

async function main() {
  const platform = await startBuildsPlatform();
  let bare: Awaited<ReturnType<typeof bareWorkers>> | undefined;
  try {
    // The Client Worker opens a client per request through its Hyperdrive binding, which on the local
    // target is a pool of warm connections; without it, each request's own server connection (as the
    // application role, SCRAM authentication, a new backend process).
    const hyperdrive = platform.target.plan.hyperdrives[0];
    const pooledUrl = hyperdrive && platform.target.hyperdrives[hyperdrive.id];
    if (!hyperdrive || !pooledUrl) throw new Error("the local stack has no Hyperdrive config");
    bare = await bareWorkers(pooledUrl);
    const token = await platform.token(ACCOUNT);
    const api = client(platform.api).call;
    const worker = await api<{ id: string }>("POST", "/api/workers", { token, body: { name: "bench-api" } });
    if (worker.status !== 201)
      throw new Error(`creating the Worker answered ${worker.status}: ${worker.text}`);
    const trigger = await api<{ id: string }>("POST", `/api/workers/${worker.json.result.id}/triggers`, {
      token,
      body: { repo_url: "https://github.com/acme/bench-api", production_branch: "main" },
    });
    if (trigger.status !== 201)
      throw new Error(`creating the trigger answered ${trigger.status}: ${trigger.text}`);
    await platform.sql(
      `INSERT INTO builds (account_id, worker_id, trigger_id, source, branch, commit_hash, commit_message,
                           production, status, build_outcome, created_at, initializing_at, running_at, stopped_at)
       SELECT $1, $2, $3, 'api', 'main', md5(i::text) || left(md5((-i)::text), 8), 'commit ' || i, true,
              'stopped', 'success', t, t + interval '20 ms', t + interval '2 s', t + interval '40 s'
         FROM generate_series(1, $4::int) AS i, LATERAL (SELECT now() - make_interval(mins => i)) AS x(t)`,
      [ACCOUNT, worker.json.result.id, trigger.json.result.id, BUILDS],
    );
    const listPath = `/api/workers/${worker.json.result.id}/builds`;
    const first = await api<unknown[]>("GET", listPath, { token });
    if (first.status !== 200 || first.json.result.length !== 20 || !first.json.result_info?.cursor)
      throw new Error(`the builds list answered ${first.status}: ${first.text.slice(0, 500)}`);

    const server = new URL(platform.target.postgres ?? "");
    const appUrl = hyperdriveOriginUrl(hyperdrive.origin, {
      host: server.hostname,
      port: Number(server.port),
    });
    const connectAndList = (url: string) => async () => {
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const rows = await db.query(
          "SELECT * FROM builds WHERE worker_id = $1 ORDER BY created_at DESC, build_uuid DESC LIMIT 21",
          [worker.json.result.id],
        );
        return rows.rowCount === 21;
      } finally {
        await db.end();
      }
    };

    const targets: Target[] = [
      { name: "baseline  bare Hono GET / (own Miniflare)", send: get(bare.bare) },
      { name: "client    GET /api/health (no token, no DB)", send: get(`${platform.api}/api/health`) },
      {
        name: "client    GET /api/workers/:id/builds (page of 20)",
        send: get(`${platform.api}${listPath}`, { authorization: `Bearer ${token}` }),
      },
      { name: "probe     Worker: Hyperdrive socket, startup, close", send: get(`${bare.probe}/socket`) },
      { name: "probe     Worker: pg client connect + end", send: get(`${bare.probe}/client`) },
      { name: "floor     Node pg via the local Hyperdrive: page query", send: connectAndList(pooledUrl) },
      { name: "unpooled  Node pg: own server connection, page query", send: connectAndList(appUrl) },
    ];
    const originConnections = async () =>
      (
        await platform.sql<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'local-hyperdrive'`,
        )
      )[0]?.n ?? 0;
    for (const t of targets) await closedLoop(t, WARMUP_MS, CONCURRENCY);
    const results = targets.map(() => ({ requests: 0, errors: 0, ms: 0, latencies: [] as number[] }));
    const cpu: Cpu[] = targets.map(() => ({ node: 0, workerd: 0, postgres: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, t] of targets.entries()) {
        const before = cpuMs();
        const once = await closedLoop(t, (SECONDS * 1000) / ROUNDS, CONCURRENCY);
        const after = cpuMs();
        for (const k of ["node", "workerd", "postgres"] as const) cpu[i]![k] += after[k] - before[k];
        const total = results[i]!;
        total.requests += once.requests;
        total.errors += once.errors;
        total.ms += once.ms;
        total.latencies.push(...once.latencies);
        await sleep(200);
      }
    }

    console.log(
      `load: ${CONCURRENCY} requests in flight, ${SECONDS} s per route in ${ROUNDS} turns, Node fetch ` +
        `(keep-alive) on the same machine; the listed Worker has ${BUILDS} builds in PostgreSQL`,
    );
    console.log(
      `${"".padEnd(50)} requests/s       p50       p99  errors   CPU ms a request: node / workerd / postgres`,
    );
    for (const [i, t] of targets.entries()) {
      const l = results[i]!;
      const perRequest = (ms: number) => (ms / Math.max(1, l.requests)).toFixed(2);
      const c = cpu[i]!;
      console.log(
        `${t.name.padEnd(50)} ${rps(l).toFixed(0).padStart(10)} ${percentile(l.latencies, 50).toFixed(1).padStart(6)} ms` +
          ` ${percentile(l.latencies, 99).toFixed(1).padStart(6)} ms  ${String(l.errors).padStart(6)}   ` +
          `${perRequest(c.node)} / ${perRequest(c.workerd)} / ${perRequest(c.postgres)}`,
      );
    }
    const [b, h, list, socketOnly, clientOnly, floor, unpooled] = results as [
      Load,
      Load,
      Load,
      Load,
      Load,
      Load,
      Load,
    ];
    const p99 = (l: Load) => percentile(l.latencies, 99);
    console.log(
      `ratio     builds list / bare Hono: ${(rps(list) / rps(b)).toFixed(2)}x requests/s, ` +
        `${(p99(list) / p99(b)).toFixed(1)}x p99`,
    );
    console.log(
      `ratio     builds list / /api/health: ${(rps(list) / rps(h)).toFixed(2)}x requests/s, ` +
        `${(p99(list) / p99(h)).toFixed(1)}x p99`,
    );
    console.log(
      `ratio     builds list / Node pg via the local Hyperdrive: ${(rps(list) / rps(floor)).toFixed(2)}x ` +
        `requests/s, ${(p99(list) / p99(floor)).toFixed(1)}x p99`,
    );
    console.log(
      `ratio     Node pg via the local Hyperdrive / own server connection: ` +
        `${(rps(floor) / rps(unpooled)).toFixed(2)}x requests/s`,
    );
    console.log(
      `ratio     a Worker's Hyperdrive socket alone / bare Hono: ${(rps(socketOnly) / rps(b)).toFixed(2)}x; ` +
        `with pg's connect and end: ${(rps(clientOnly) / rps(b)).toFixed(2)}x requests/s`,
    );
    const served = list.requests + socketOnly.requests + clientOnly.requests + floor.requests;
    console.log(
      `pool      ${await originConnections()} origin connections open after ${served} requests through it`,
    );
  } finally {
    await bare?.mf.dispose();
    await platform.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
