import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Miniflare } from "miniflare";
import { applyD1Migrations, d1BindingExecutor } from "../../components/d1-migrations";
import { programEntryPath } from "../cli-args";
import { DEFAULT_DEV_ACCOUNT, devTokenSecretOf, signDevToken } from "../dev-token";
import type { CapturedResource } from "../graph";
import { freePort } from "../ports";
import { type PostgresServer, startEmbeddedPostgres } from "../postgres-server";
import type * as Synth from "../synth";
import { firstBinding } from "./bindings";
import { type LocalBuildRunner, startLocalBuildRunners } from "./build-runner";
import { type CronSchedule, cronMatches, parseCron } from "./cron";
import { startHyperdrivePools } from "./hyperdrive/pool";
import { type LocalPlan, miniflareOptions, planLocal } from "./miniflare-plan";
import { applyPostgresGraph } from "./postgres-apply";
import { expireR2Objects } from "./r2-lifecycle";
import { tetherWorkerd } from "./workerd-tether";

export interface LocalTargetOptions {
  /** @default "local" */
  stack?: string;
  configFile?: string;
  /** Entry module of another Pulumi program (see `captureStack`). */
  entry?: string;
  /** The program as a function (tests use fixture programs). @default the project's entry module */
  program?: () => unknown;
  /** Where data, the lock and endpoints.json live. @default `<repo>/.local` */
  stateDir?: string;
  /** Start from empty data. @default false */
  reset?: boolean;
  /** Superuser URL of an external PostgreSQL instead of the embedded one. */
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface LocalTarget {
  /** Script name → URL of the Worker's own port. */
  workers: Record<string, string>;
  /** Superuser URL of the PostgreSQL the target uses. */
  postgres: string;
  /** Hyperdrive config id → URL of the local pool its bindings connect to. */
  hyperdrives: Record<string, string>;
  /** Where requests for custom domains and routes go, by `Host`. */
  entryUrl: string;
  plan: LocalPlan;
  mf: Miniflare;
  /** Build runners started for the Workers that declared a `build-runner` local service. */
  runners: LocalBuildRunner[];
  /**
   * Resolves once every build runner answers its health check. The target reports ready before that
   * (nothing needs a runner until a build is admitted; a build admitted sooner waits for its runner), and
   * rejects when a runner cannot start.
   */
  runnersReady: Promise<void>;
  /** A development token of the builds platform's REST API (`npm run token`), when the graph has one. */
  devToken?: string;
  /**
   * Restarts workerd on the same ports and data: every Durable Object loses its memory and keeps its
   * storage, as on an eviction or a deploy.
   */
  restartWorkerd(): Promise<void>;
  /** Fires the scheduled handlers whose crons match `date` (the target does this every minute). */
  fireCrons(date: Date): Promise<string[]>;
  /**
   * Deletes the R2 objects that the graph's lifecycle expiry rules expire at `now` (the target does this
   * a minute after start and then every hour); answers the keys deleted per bucket.
   */
  expireR2Objects(now: Date): Promise<{ bucketName: string; deleted: string[] }[]>;
  stop(): Promise<void>;
}

/** Whether a process with this id runs (one owned by another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const SKIP_DIRS = new Set(["node_modules", ".git", ".local", ".build", "coverage", "__snapshots__", "bench"]);
const INPUT_FILE = /\.(ts|mts|cts|js|mjs|cjs|json|ya?ml|sql)$/;

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) hashTree(hash, full);
    } else if (INPUT_FILE.test(entry.name) && !entry.name.endsWith(".test.ts")) {
      hash.update(`${full}\0`).update(readFileSync(full)).update("\0");
    }
  }
}

/**
 * Everything the captured graph depends on: the program's and this package's sources (components,
 * Worker entries, SQL), the stack file, and the lockfile. An unchanged key means an unchanged graph.
 */
function graphKey(options: LocalTargetOptions, stack: string): string {
  const hash = createHash("sha256").update(
    JSON.stringify([stack, options.entry ?? null, options.configFile ?? null]),
  );
  hashTree(hash, REPO_ROOT);
  if (options.entry) hashTree(hash, path.dirname(path.resolve(options.entry)));
  if (options.configFile) hash.update(readFileSync(options.configFile));
  return hash.digest("hex");
}

/**
 * The program's resource graph, evaluated with the same capture synth uses. Evaluating loads the Pulumi
 * SDK and bundles every Worker, which is most of a start; when no input changed since the last start,
 * the graph saved then is the same graph, so it is reused.
 */
async function programGraph(
  options: LocalTargetOptions,
  stack: string,
  stateDir: string,
  log: (line: string) => void,
): Promise<CapturedResource[]> {
  const cacheable = options.program === undefined;
  const file = path.join(stateDir, "graph.json");
  const key = cacheable ? graphKey(options, stack) : "";
  if (cacheable && existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key: string; resources: CapturedResource[] };
    if (cached.key === key) {
      log("program unchanged since the last start: reusing its resource graph");
      return cached.resources;
    }
  }
  log(`evaluating the program for stack "${stack}" and bundling its Workers`);
  const { captureStack } = loadSynth();
  const resources = await captureStack({
    stack,
    configFile: options.configFile,
    entry: options.entry,
    program: options.program,
  });
  // The graph holds the local stack's development secrets: readable by this user only.
  if (cacheable) writeFileSync(file, JSON.stringify({ key, resources }), { mode: 0o600 });
  return resources;
}

/**
 * Miniflare takes about 0.4 s of one core to load. It is loaded only once PostgreSQL is spawned, so that
 * its start runs on the other cores meanwhile instead of after it.
 */
function loadMiniflare(): typeof import("miniflare") {
  return require("miniflare");
}

/** Loaded only when the graph must be evaluated: it brings in the Pulumi SDK, the slowest part of a start. */
function loadSynth(): typeof Synth {
  if (!require.extensions[".ts"]) require("../register.cjs");
  return require("../synth");
}

/** State folders this process runs a target on (its own pid in a lock file says nothing). */
const held = new Set<string>();

/** One target per state folder: a second start while one runs says so instead of fighting over ports and data. */
function takeLock(stateDir: string): () => void {
  const file = path.join(stateDir, "target.lock");
  const pid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : Number.NaN;
  const otherProcess = Number.isInteger(pid) && pid !== process.pid && processAlive(pid);
  if (held.has(stateDir) || otherProcess) {
    const owner = otherProcess ? pid : process.pid;
    throw new Error(
      `the local target is already running (pid ${owner}, state in ${stateDir}); stop it first`,
    );
  }
  writeFileSync(file, `${process.pid}\n`);
  held.add(stateDir);
  return () => {
    if (held.delete(stateDir)) rmSync(file, { force: true });
  };
}

/**
 * Brings the program's resource graph up on this machine: PostgreSQL (embedded or external) with the
 * graph's roles, database, schema, grants and SQL migrations; every Worker on workerd through Miniflare
 * with its bindings, D1 migrations applied, Hyperdrive pointed at a pool in front of the local
 * PostgreSQL; crons fired on their schedules. Nothing starts when the graph has a resource type the target
 * does not know.
 */
export async function startLocalTarget(options: LocalTargetOptions = {}): Promise<LocalTarget> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  // A missing input is named before anything is created, locked or reset.
  if (options.entry !== undefined) programEntryPath(options.entry);
  if (options.configFile !== undefined && !existsSync(options.configFile)) {
    throw new Error(`the stack config file ${options.configFile} does not exist`);
  }
  const stateDir = path.resolve(options.stateDir ?? path.join(REPO_ROOT, ".local"));
  mkdirSync(stateDir, { recursive: true });
  const releaseLock = takeLock(stateDir);
  let server: PostgresServer | undefined;
  let runners: Awaited<ReturnType<typeof startLocalBuildRunners>> | undefined;
  // Miniflare's own signal hook may end the process before an asynchronous stop runs: whatever happens,
  // PostgreSQL is told to shut down (it finishes on its own) and the lock is released at exit.
  const onExit = () => {
    server?.signalStop();
    runners?.signalStop();
    releaseLock();
  };
  process.once("exit", onExit);
  const cleanups: (() => Promise<void> | void)[] = [
    () => {
      process.off("exit", onExit);
      releaseLock();
    },
  ];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  // Whatever fails first, a server still starting is waited for, so that stop() can stop it too.
  let postgresReady: Promise<string> = Promise.resolve("");
  try {
    const started = Date.now();
    if (options.reset) {
      for (const item of ["postgres", "miniflare", "graph.json"]) {
        rmSync(path.join(stateDir, item), { recursive: true, force: true });
      }
      log("reset: local data removed");
    }
    const stack = options.stack ?? "local";
    const resources = await programGraph(options, stack, stateDir, log);
    const plan = planLocal(resources);

    // PostgreSQL and workerd start side by side: the Workers only need the server's port to be known.
    let local: { host: string; port: number };
    if (options.databaseUrl) {
      const url = new URL(options.databaseUrl);
      local = { host: url.hostname, port: Number(url.port || 5432) };
      postgresReady = Promise.resolve(options.databaseUrl);
      log("using external PostgreSQL");
    } else {
      local = { host: "127.0.0.1", port: await freePort() };
      log("starting PostgreSQL (embedded)");
      postgresReady = startEmbeddedPostgres({
        dataDir: path.join(stateDir, "postgres"),
        port: local.port,
        onNotice: log,
      }).then((pg) => {
        server = pg;
        cleanups.push(() => pg.stop());
        return pg.url;
      });
    }
    // As Hyperdrive keeps warm connections to its origin, each config gets a pool in front of the server.
    const hyperdrives = await startHyperdrivePools(plan.hyperdrives, local);
    cleanups.push(() => hyperdrives.close());
    const hyperdriveUrls = hyperdrives.urls;
    log(`starting workerd with ${plan.workers.length} Worker(s)`);
    // Ports are chosen up front so that a Worker keeps its URL when workerd restarts (`restartWorkerd`).
    const ports = new Map<string, number>();
    for (const w of plan.workers) ports.set(w.name, await freePort());
    const workerUrls = Object.fromEntries(
      [...ports].map(([name, port]) => [name, `http://127.0.0.1:${port}`]),
    );
    runners = await startLocalBuildRunners(plan.services, workerUrls, stateDir, log);
    const localRunners = runners;
    let runnersStopped: Promise<void> | undefined;
    const stopRunners = () => {
      runnersStopped ??= localRunners.stop();
      return runnersStopped;
    };
    cleanups.push(stopRunners);
    const { Miniflare, convertV4MiniflareOptions } = loadMiniflare();
    const mfOptions = convertV4MiniflareOptions(
      miniflareOptions(plan, {
        persistencePath: path.join(stateDir, "miniflare"),
        hyperdriveUrls,
        ports,
        vars: localRunners.vars,
      }),
    );
    tetherWorkerd();
    const mf = new Miniflare(mfOptions);
    cleanups.push(() => mf.dispose());
    // Runners stop first, while their builds can still report to workerd.
    cleanups.push(stopRunners);
    // The graph's PostgreSQL resources are applied as soon as the server is up, while workerd still starts.
    const postgresApplied = postgresReady.then(async (url) => {
      log("applying PostgreSQL roles, database, schema, grants and SQL migrations");
      const applied = await applyPostgresGraph(resources, { adminUrl: url, log });
      for (const m of applied.migrated) {
        const what = m.applied.length === 0 ? "up to date" : `applied ${m.applied.join(", ")}`;
        log(`  ${m.database}.${m.schema}: ${what}`);
      }
      return url;
    });
    // The build runners start once workerd is up, so that their start does not compete with workerd's.
    mf.ready.then(localRunners.start, () => undefined);
    const [adminUrl, entry] = await Promise.all([postgresApplied, mf.ready]);
    const entryUrl = entry.toString();

    for (const d1 of plan.d1) {
      const found = firstBinding(plan.workers, "d1Databases", d1.databaseId);
      if (!found) {
        log(`  D1 database ${d1.databaseId} is bound by no Worker: its migrations wait until one binds it`);
        continue;
      }
      const db = await mf.getD1Database(found.binding, found.worker);
      const result = await applyD1Migrations(d1BindingExecutor(db), d1.migrations);
      log(
        `  D1 ${found.binding} (${found.worker}): ${result.applied.length === 0 ? "up to date" : `applied ${result.applied.join(", ")}`}`,
      );
    }

    const schedules: { scriptName: string; schedule: CronSchedule }[] = plan.crons.map((c) => ({
      scriptName: c.scriptName,
      schedule: parseCron(c.cron),
    }));
    const fireCrons = async (date: Date) => {
      const fired: string[] = [];
      for (const { scriptName, schedule } of schedules) {
        if (!cronMatches(schedule, date)) continue;
        const worker = await mf.getWorker(scriptName);
        await worker.scheduled({ cron: schedule.expression, scheduledTime: date });
        fired.push(`${scriptName} ${schedule.expression}`);
      }
      return fired;
    };
    if (schedules.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const tick = () => {
        const now = new Date();
        fireCrons(now).then(
          (fired) => {
            for (const f of fired) log(`cron fired: ${f}`);
          },
          (err) => log(`cron failed: ${(err as Error).message}`),
        );
        timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
      };
      timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
      cleanups.push(() => clearTimeout(timer));
    }

    const expireR2 = (now: Date) =>
      expireR2Objects(plan, (binding, worker) => mf.getR2Bucket(binding, worker), now);
    if (plan.r2Lifecycles.some((l) => l.rules.length > 0)) {
      const sweepNow = () =>
        expireR2(new Date()).then(
          (results) => {
            for (const r of results)
              if (r.deleted.length > 0)
                log(`R2 lifecycle: ${r.bucketName}: deleted ${r.deleted.length} expired object(s)`);
          },
          (err) => log(`R2 lifecycle sweep failed: ${(err as Error).message}`),
        );
      // The first sweep waits a minute, so that listing a large bucket does not slow the start down.
      let sweeping: Promise<void> | undefined;
      let hourly: NodeJS.Timeout | undefined;
      const first = setTimeout(() => {
        sweeping = sweepNow();
        hourly = setInterval(() => {
          sweeping = sweepNow();
        }, 3_600_000);
      }, 60_000);
      // A sweep in flight ends before workerd goes (cleanups run last-in first-out).
      cleanups.push(async () => {
        clearTimeout(first);
        clearInterval(hourly);
        await sweeping;
      });
    }

    const workers: Record<string, string> = {};
    for (const w of plan.workers)
      workers[w.name] = (await mf.unsafeGetDirectURL(w.name)).toString().replace(/\/$/, "");
    const postgresUrl = adminUrl;
    writeFileSync(
      path.join(stateDir, "endpoints.json"),
      `${JSON.stringify({ workers, postgres: postgresUrl }, null, 2)}\n`,
    );

    for (const n of plan.notEmulated) log(`not emulated locally: ${n.type} (${n.reason}): ${n.name}`);
    log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const [name, url] of Object.entries(workers)) log(`  ${name.padEnd(40)} ${url}`);
    for (const h of plan.hosts) log(`  ${h.host.padEnd(40)} ${entryUrl} (Host: ${h.host}) → ${h.scriptName}`);
    if (!localRunners.isReady()) log("build runner still starting: a build started meanwhile waits for it");
    const jwtSecret = devTokenSecretOf(plan.services);
    const devToken = jwtSecret ? signDevToken(jwtSecret) : undefined;
    if (devToken)
      log(`development token (account ${DEFAULT_DEV_ACCOUNT}, 24 h; npm run token for another): ${devToken}`);
    return {
      workers,
      postgres: postgresUrl,
      hyperdrives: Object.fromEntries(hyperdriveUrls),
      entryUrl,
      plan,
      mf,
      runners: localRunners.runners,
      runnersReady: localRunners.ready,
      devToken,
      fireCrons,
      expireR2Objects: expireR2,
      restartWorkerd: async () => {
        await mf.setOptions(mfOptions);
      },
      stop,
    };
  } catch (err) {
    await postgresReady.catch(() => undefined);
    await stop();
    throw err;
  }
}
