import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, constants, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { client } from "../test/builds/http";
import { type BuildsPlatform, startBuildsPlatform } from "../test/builds-harness";
import { mean, ms, percentile, sleep } from "./stats";

/**
 * Build start latency: from a push being accepted (`POST /api/triggers/:id/builds` answered; the row's
 * `created_at`) to the scheduler admitting the build (`initializing_at`), both stamped by PostgreSQL's clock.
 * Two platforms run side by side, the same but for the scheduler: woken by every queued build ("wake on"),
 * or not woken ("wake off", the seed's design: only a 1-second poll admits builds, neither a queued nor a
 * finished build wakes it), which is the baseline. Their builds are queued in turns, so that both see the
 * same machine load.
 *
 * Workloads, each build on its own Worker and trigger:
 * - trivial, on both: build and deploy command `true`, queued 20-120 ms apart.
 * - held, wake off only: the same, but every build blocks on a FIFO until all were admitted; nothing
 *   finishes meanwhile (a check that finishing builds do not admit others).
 * - idle, wake on only: one build at a time, each queued after the previous stopped: the path's own latency.
 */
const BUILDS = Number(process.env.BENCH_BUILDS ?? 100);
const IDLE_BUILDS = Number(process.env.BENCH_IDLE_BUILDS ?? 20);
const GAP_MS = [20, 120] as const;
const LIMITS = { maxConcurrentPerAccount: 100, maxConcurrentGlobal: 200 };
const ACCOUNT = "bench-build-start";
const DONE_TIMEOUT_MS = 120_000;
const ACTIVE = ["queued", "initializing", "running"];

const MODES = {
  wakeOn: {
    name: "wake on ",
    builds: { ...LIMITS, scheduler: { wakeOnQueue: true, pollIntervalSeconds: 30 } },
  },
  wakeOff: {
    name: "wake off",
    builds: { ...LIMITS, scheduler: { wakeOnQueue: false, pollIntervalSeconds: 1 } },
  },
};

type Workload = "idle" | "trivial" | "held";

interface Result {
  mode: string;
  workload: Workload;
  startMs: number[];
  outcomes: Record<string, number>;
  /** From the last build queued to every build stopped. */
  drainMs: number;
  /** Builds admitted after another build of the same workload had already stopped. */
  admittedAfterAFinish: number;
}

type Api = ReturnType<typeof client>["call"];

interface Session {
  mode: string;
  platform: BuildsPlatform;
  api: Api;
  token: string;
  repoUrl: string;
}

async function session(mode: (typeof MODES)[keyof typeof MODES]): Promise<Session> {
  const platform = await startBuildsPlatform({ builds: mode.builds });
  try {
    const repo = await platform.gitRepo();
    await repo.commit({ "README.md": "bench\n" }, "bench");
    return {
      mode: mode.name,
      platform,
      api: client(platform.api).call,
      token: await platform.token(ACCOUNT),
      repoUrl: repo.url,
    };
  } catch (err) {
    await platform.stop();
    throw err;
  }
}

async function triggers(s: Session, prefix: string, buildCommand: string, count: number): Promise<string[]> {
  const create = async (i: number) => {
    const name = `${prefix}-${i}`;
    const worker = await s.api("POST", "/api/workers", { token: s.token, body: { name } });
    if (worker.status !== 201)
      throw new Error(`creating Worker ${name} answered ${worker.status}: ${worker.text}`);
    const trigger = await s.api<{ id: string }>("POST", `/api/workers/${name}/triggers`, {
      token: s.token,
      body: {
        repo_url: s.repoUrl,
        production_branch: "main",
        build_command: buildCommand,
        deploy_command: "true",
      },
    });
    if (trigger.status !== 201)
      throw new Error(`creating the trigger of ${name} answered ${trigger.status}: ${trigger.text}`);
    return trigger.json.result.id;
  };
  const ids: string[] = [];
  for (let i = 0; i < count; i += 4) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(4, count - i) }, (_, j) => create(i + j)))));
  }
  return ids;
}

async function queue(s: Session, trigger: string): Promise<string> {
  const res = await s.api<{ build_uuid: string }>("POST", `/api/triggers/${trigger}/builds`, {
    token: s.token,
    body: {},
  });
  if (res.status !== 201) throw new Error(`starting a build answered ${res.status}: ${res.text}`);
  return res.json.result.build_uuid;
}

/** Lets every held build that is waiting on the FIFO go: each sees end-of-file once the writer closes. */
function release(fifo: string): void {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENXIO") throw err; // no build is reading right now
  }
}

/** Waits until no build of `uuids` has a status in `statuses`; `onPoll` runs before every look. */
async function waitUntilNone(
  s: Session,
  uuids: string[],
  statuses: string[],
  pollMs: number,
  onPoll: () => void = () => {},
): Promise<void> {
  const deadline = Date.now() + DONE_TIMEOUT_MS;
  for (;;) {
    onPoll();
    const [row] = await s.platform.sql<{ open: number }>(
      "SELECT count(*)::int AS open FROM builds WHERE build_uuid = ANY($1::uuid[]) AND status = ANY($2::text[])",
      [uuids, statuses],
    );
    if (row?.open === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `${row?.open} of ${uuids.length} builds still ${statuses.join(" or ")} after ${DONE_TIMEOUT_MS} ms`,
      );
    await sleep(pollMs);
  }
}

/** One build, so that neither platform pays its first connections in the figures. */
async function warmUp(s: Session): Promise<void> {
  const [trigger] = await triggers(s, "warmup", "true", 1);
  await waitUntilNone(s, [await queue(s, trigger!)], ACTIVE, 50);
}

/** Queues `workload` on every session in turns, waits for every build to stop, and reads the latencies. */
async function run(sessions: Session[], workload: Workload, fifo: string): Promise<Result[]> {
  const count = workload === "idle" ? IDLE_BUILDS : BUILDS;
  const command = workload === "held" ? `cat ${fifo} > /dev/null` : "true";
  const ids = await Promise.all(sessions.map((s) => triggers(s, workload, command, count)));
  const uuids: string[][] = sessions.map(() => []);
  for (let i = 0; i < count; i++) {
    for (const [k, s] of sessions.entries()) {
      const uuid = await queue(s, ids[k]![i]!);
      uuids[k]!.push(uuid);
      if (workload === "idle") await waitUntilNone(s, [uuid], ACTIVE, 20);
      await sleep(GAP_MS[0] + Math.random() * (GAP_MS[1] - GAP_MS[0]));
    }
  }
  const lastQueued = performance.now();
  return Promise.all(
    sessions.map(async (s, k) => {
      const mine = uuids[k]!;
      if (workload === "held") {
        await waitUntilNone(s, mine, ["queued"], 100);
        // Held builds reach their read at different times, so the FIFO is opened again on every poll.
        await waitUntilNone(s, mine, ACTIVE, 100, () => release(fifo));
      } else {
        await waitUntilNone(s, mine, ACTIVE, 200);
      }
      const drainMs = performance.now() - lastQueued;
      const rows = await s.platform.sql<{ start_ms: number | null; outcome: string; after_finish: boolean }>(
        `SELECT extract(epoch FROM b.initializing_at - b.created_at)::float8 * 1000 AS start_ms,
                coalesce(b.failure_class, b.build_outcome) AS outcome,
                b.initializing_at > (SELECT min(stopped_at) FROM builds WHERE build_uuid = ANY($1::uuid[]))
                  AS after_finish
           FROM builds b WHERE b.build_uuid = ANY($1::uuid[])`,
        [mine],
      );
      const outcomes: Record<string, number> = {};
      for (const r of rows) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
      const startMs = rows.flatMap((r) => (r.start_ms === null ? [] : [r.start_ms]));
      if (startMs.length !== count)
        throw new Error(`${s.mode}: ${count - startMs.length} builds never reached initializing`);
      const admittedAfterAFinish = rows.filter((r) => r.after_finish).length;
      return { mode: s.mode, workload, startMs, outcomes, drainMs, admittedAfterAFinish };
    }),
  );
}

function row(r: Result): string {
  const outcomes = Object.entries(r.outcomes)
    .map(([k, v]) => `${v} ${k}`)
    .join(", ");
  return [
    `${r.mode} ${r.workload.padEnd(7)}`,
    `n ${String(r.startMs.length).padStart(3)}`,
    `p50 ${ms(percentile(r.startMs, 50)).padStart(7)}`,
    `p99 ${ms(percentile(r.startMs, 99)).padStart(7)}`,
    `mean ${ms(mean(r.startMs)).padStart(7)}`,
    // An idle build is queued after the previous one stopped: both columns say nothing there.
    `admitted after a finish ${(r.workload === "idle" ? "-" : String(r.admittedAfterAFinish)).padStart(3)}`,
    `all stopped ${(r.workload === "idle" ? "-" : ms(r.drainMs)).padStart(7)} after the last was queued`,
    outcomes,
  ].join("  ");
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-build-start-"));
  chmodSync(dir, 0o755);
  const fifo = path.join(dir, "hold");
  execFileSync("mkfifo", ["-m", "0666", fifo]);
  // Miniflare prints the Workers' info logs with console.log (several per build); the figures are printed
  // once the platforms have stopped, and warnings and errors still reach stderr.
  const print = console.log;
  console.log = () => {};
  const sessions: Session[] = [];
  const results: Result[] = [];
  try {
    // One after the other: the local target evaluates the stack's program in this process, once at a time.
    for (const mode of [MODES.wakeOn, MODES.wakeOff]) sessions.push(await session(mode));
    const [wakeOn, wakeOff] = sessions as [Session, Session];
    await Promise.all([warmUp(wakeOn), warmUp(wakeOff)]);
    results.push(...(await run([wakeOn], "idle", fifo)));
    results.push(...(await run([wakeOn, wakeOff], "trivial", fifo)));
    results.push(...(await run([wakeOff], "held", fifo)));
  } finally {
    console.log = print;
    await Promise.all(sessions.map((s) => s.platform.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `builds: ${BUILDS} per trivial and held workload, ${IDLE_BUILDS} idle; queued one at a time ` +
      `${GAP_MS[0]}-${GAP_MS[1]} ms apart, in turns on the two platforms, each build on its own Worker; ` +
      `build and deploy command "true" on a local git repo (held: the build first waits on a FIFO until ` +
      `every build was admitted); limits ${LIMITS.maxConcurrentPerAccount} per account, ` +
      `${LIMITS.maxConcurrentGlobal} global`,
  );
  console.log("latency: builds.created_at -> builds.initializing_at (PostgreSQL clock)");
  for (const r of results) console.log(row(r));
  const find = (mode: string, workload: Workload) =>
    results.find((r) => r.mode === mode && r.workload === workload)!.startMs;
  const wake = find(MODES.wakeOn.name, "trivial");
  for (const workload of ["trivial", "held"] as const) {
    const poll = find(MODES.wakeOff.name, workload);
    const ratio = (p: number) => (percentile(poll, p) / percentile(wake, p)).toFixed(1);
    console.log(
      `ratio  wake off ${workload.padEnd(7)} / wake on trivial: p50 ${ratio(50)}x, p99 ${ratio(99)}x`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
