import { loadavg } from "node:os";
import pg from "pg";
import {
  heldNow,
  queueBuilds,
  releaseAll,
  type SchedulerStub,
  schedulerStubs,
  shardOfAccount,
} from "../test/builds/scheduler-drive";
import { type BuildsPlatform, startBuildsPlatform } from "../test/builds-harness";
import { shardRange } from "../workers-src/builds/management/admission";
import {
  admitFromNode,
  type Limits,
  mixedQueue,
  roundsUntilAdmitted,
  type Statement,
  spreadQueue,
} from "./scheduler-workloads";
import { ms, percentile } from "./stats";

/**
 * The scheduler at scale, on the local target (workerd, embedded PostgreSQL, the local Hyperdrive pool):
 *
 * 1. The admission statement alone, from Node in a rolled-back transaction (median of
 *    `STATEMENT_RUNS`): the current one and the one it replaced, with 100 builds queued (one in each of 100
 *    accounts: the baseline), 10,000 across 1,000 accounts (1,000 of them in one account, all older than
 *    the rest), 100,000 across 1,000 and 100,000 across 10,000.
 * 2. Admission on workerd: the real BuildScheduler objects' `tick` called over RPC, one round after the
 *    other. Each round is timed from Node (through Miniflare's RPC proxy, whose own cost is measured as
 *    the floor: a call that does nothing) and inside the objects (the tick's own clock: its statements and
 *    lease requests; the slowest shard's). (a) Rounds at the global limit, which admit nothing but still
 *    find and rank every account waiting; (b) rounds draining the 10,000 builds: after each round every
 *    admitted build is released (stopped in PostgreSQL: the bench stands in for builds that end at once).
 *    The builds have no trigger, so the BuildBuddy each admitted build really gets finds nothing to run
 *    after one query (a cheap stand-in for the start of a build); the scheduler does not wait for those
 *    starts, but on the local target every object runs on the one workerd, so a round that admits is
 *    slowed by the starts it makes. Baseline: the same over 100 builds in 100 accounts (drained 20 times).
 *    Once with one scheduler, once with `SHARDS` shards whose ticks run side by side (and the capacity
 *    coordinator).
 * 3. Fairness, with the global limit binding (per account 100, global 50): a single build of another
 *    account, queued once the account with 1,000 builds has been admitted for three rounds; and one
 *    queued in round 5 of the 10,000-build drain: in which round after it was queued it is admitted, and
 *    how long that took. The replaced statement is run the same way from Node as the baseline.
 */
const QUEUED = Number(process.env.BENCH_SCHEDULER_BUILDS ?? 10_000);
const ACCOUNTS = Number(process.env.BENCH_SCHEDULER_ACCOUNTS ?? 1_000);
const DEEP = Number(process.env.BENCH_SCHEDULER_DEEP ?? 100_000);
const SHARDS = Number(process.env.BENCH_SCHEDULER_SHARDS ?? 4);
const BIG = Math.min(1_000, Math.floor(QUEUED / 10));
const BASELINE_ACCOUNTS = 100;
const BASELINE_REPEATS = 20;
const STATEMENT_RUNS = 15;
const IDLE_ROUNDS = 30;
const LIMITS: Limits = { perAccount: 100, global: 50 };
const MAX_ROUNDS = 10 * Math.ceil(QUEUED / LIMITS.global);

function platformConfig(shards: number) {
  return {
    maxConcurrentPerAccount: LIMITS.perAccount,
    maxConcurrentGlobal: LIMITS.global,
    // Rounds are run by the bench: no wake and no poll admits anything on its own.
    scheduler: { wakeOnQueue: false, pollIntervalSeconds: 3600, shards, leaseSeconds: 30 },
  };
}

async function connect(platform: BuildsPlatform): Promise<pg.Client> {
  const url = new URL(platform.target.postgres ?? "");
  url.pathname = "/builds";
  const db = new pg.Client({ connectionString: url.toString(), options: "-c search_path=builds" });
  await db.connect();
  return db;
}

async function clearBuilds(db: pg.Client): Promise<void> {
  await db.query("DELETE FROM builds");
  await db.query("VACUUM ANALYZE builds");
}

async function seedFromNode(db: pg.Client, platform: BuildsPlatform, accounts: string[], startMs = 0) {
  const uuids = await queueBuilds(platform, accounts, startMs);
  await db.query("VACUUM ANALYZE builds");
  return uuids;
}

// ---- 1. the statement alone -------------------------------------------------------------------------

interface StatementFigure {
  shape: string;
  /** `shard`: the current statement over one shard's accounts (of `SHARDS`, each in turn). */
  statement: Statement | "shard";
  ms: number[];
}

async function statementAlone(db: pg.Client, platform: BuildsPlatform): Promise<StatementFigure[]> {
  const shapes: [string, string[]][] = [
    [
      `${BASELINE_ACCOUNTS} queued, ${BASELINE_ACCOUNTS} accounts`,
      spreadQueue("stmt-base", BASELINE_ACCOUNTS),
    ],
    [`${QUEUED} queued, ${ACCOUNTS} accounts`, mixedQueue("stmt-mix", QUEUED, ACCOUNTS, BIG)],
    [`${DEEP} queued, ${ACCOUNTS} accounts`, mixedQueue("stmt-deep", DEEP, ACCOUNTS, BIG)],
    [`${DEEP} queued, ${ACCOUNTS * 10} accounts`, mixedQueue("stmt-wide", DEEP, ACCOUNTS * 10, BIG)],
  ];
  const figures: StatementFigure[] = [];
  for (const [shape, accounts] of shapes) {
    await clearBuilds(db);
    await seedFromNode(db, platform, accounts);
    const current: StatementFigure = { shape, statement: "current", ms: [] };
    const replaced: StatementFigure = { shape, statement: "replaced", ms: [] };
    const shard: StatementFigure = { shape, statement: "shard", ms: [] };
    for (let i = 0; i < STATEMENT_RUNS; i++) {
      // Taking turns at going first, so that none always runs on a warmer cache.
      const order = [current, replaced, shard];
      for (let k = 0; k < order.length; k++) {
        const f = order[(i + k) % order.length]!;
        const { ms } =
          f.statement === "shard"
            ? await admitFromNode(
                db,
                "current",
                { perAccount: LIMITS.perAccount, global: Math.ceil(LIMITS.global / SHARDS) },
                true,
                shardRange(i % SHARDS, SHARDS),
              )
            : await admitFromNode(db, f.statement, LIMITS, true);
        f.ms.push(ms);
      }
    }
    figures.push(current, replaced, shard);
  }
  await clearBuilds(db);
  return figures;
}

// ---- 2 and 3. rounds on workerd, and fairness -------------------------------------------------------

/** Round times seen from Node (over Miniflare's RPC proxy) and inside the objects (the slowest shard). */
interface Timing {
  nodeMs: number[];
  objectMs: number[];
}

interface Drain extends Timing {
  /** Admitted by the rounds' ticks. */
  admitted: number;
  /** Admitted in all, as PostgreSQL counts them (a sharded scheduler's shards also tick when nudged). */
  admittedInAll: number;
  wallMs: number;
}

interface Fairness {
  /** Rounds run after the build was queued, up to and with the one that admitted it. */
  rounds: number | undefined;
  ms: number | undefined;
}

interface ModeResult {
  shards: number;
  /** A call from Node to the scheduler that does nothing (`limits`): the RPC proxy's own cost. */
  rpcFloorMs: number[];
  /** Rounds that admit nothing because the global limit is reached: the scheduler's own cost. */
  idleBaseline: Timing;
  idleMix: Timing;
  baseline: Drain;
  mix: Drain;
  mixSingle: Fairness;
  bigSingle: Fairness;
}

class Rounds {
  constructor(
    private readonly platform: BuildsPlatform,
    private readonly stubs: SchedulerStub[],
  ) {}

  /** Every scheduler object ticks, side by side; answers what they admitted. */
  async tick(timing: Timing): Promise<string[]> {
    const started = performance.now();
    const results = await Promise.all(this.stubs.map((s) => s.tick()));
    timing.nodeMs.push(performance.now() - started);
    timing.objectMs.push(Math.max(...results.map((r) => r.ms)));
    return results.flatMap((r) => r.admitted);
  }

  /** One round: a tick, then every admitted build is released. */
  async once(drain: Drain): Promise<string[]> {
    const admitted = await this.tick(drain);
    drain.admitted += admitted.length;
    await this.heldWithinLimits();
    await releaseAll(this.platform);
    return admitted;
  }

  async rpcFloor(): Promise<number[]> {
    const times: number[] = [];
    for (let i = 0; i < IDLE_ROUNDS; i++) {
      const started = performance.now();
      await this.stubs[0]!.limits();
      times.push(performance.now() - started);
    }
    return times;
  }

  /**
   * Fills the global limit (rounds with nothing released), then times `IDLE_ROUNDS` rounds that admit
   * nothing: the statement still finds every account waiting, but no BuildBuddy is started.
   */
  async idle(): Promise<Timing> {
    // Until a round admits nothing at the limit: a shard nudged by the coordinator may still be admitting,
    // and a round's tick joins a tick in flight, whose admissions it answers.
    for (let i = 0; ; i++) {
      if (i === 50) throw new Error("50 rounds did not fill the global limit");
      const admitted = await this.tick(emptyTiming());
      const held = await this.heldWithinLimits();
      if (admitted.length === 0 && held >= LIMITS.global) break;
    }
    const timing = emptyTiming();
    for (let i = 0; i < IDLE_ROUNDS; i++) {
      const admitted = await this.tick(timing);
      const held = await this.heldWithinLimits();
      if (admitted.length > 0)
        throw new Error(`a round at the global limit admitted ${admitted.length} builds (${held} held)`);
    }
    await releaseAll(this.platform);
    return timing;
  }

  /** Builds held now; throws if that is more than the global limit. */
  async heldWithinLimits(): Promise<number> {
    const { total } = await heldNow(this.platform);
    if (total > LIMITS.global)
      throw new Error(`${total} builds held, above the global limit of ${LIMITS.global}`);
    return total;
  }

  async queued(): Promise<number> {
    const [row] = await this.platform.sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM builds WHERE status = 'queued'",
    );
    return row?.n ?? 0;
  }

  async admittedSoFar(): Promise<number> {
    const [row] = await this.platform.sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM builds WHERE initializing_at IS NOT NULL",
    );
    return row?.n ?? 0;
  }

  /** Rounds until nothing is queued; `each(round)` runs before every round. */
  async drain(drain: Drain, each: (round: number) => Promise<void> = async () => {}): Promise<void> {
    const before = await this.admittedSoFar();
    const started = performance.now();
    for (let round = 1; (await this.queued()) > 0; round++) {
      if (round > MAX_ROUNDS) throw new Error(`the queue was not drained in ${MAX_ROUNDS} rounds`);
      await each(round);
      await this.once(drain);
    }
    drain.wallMs += performance.now() - started;
    drain.admittedInAll += (await this.admittedSoFar()) - before;
  }
}

const emptyTiming = (): Timing => ({ nodeMs: [], objectMs: [] });
const emptyDrain = (): Drain => ({ ...emptyTiming(), admitted: 0, admittedInAll: 0, wallMs: 0 });

async function watch(platform: BuildsPlatform, uuid: string): Promise<boolean> {
  const [row] = await platform.sql<{ status: string }>("SELECT status FROM builds WHERE build_uuid = $1", [
    uuid,
  ]);
  return row?.status !== "queued";
}

/** An account named `<prefix>-<n>` in another shard than `other` (any account when there is one shard). */
async function accountAwayFrom(platform: BuildsPlatform, prefix: string, other: string, shards: number) {
  const avoid = await shardOfAccount(platform, other, shards);
  for (let n = 0; ; n++) {
    const account = `${prefix}-${n}`;
    if (shards === 1 || (await shardOfAccount(platform, account, shards)) !== avoid) return account;
  }
}

async function runMode(shards: number): Promise<ModeResult> {
  const platform = await startBuildsPlatform({ builds: platformConfig(shards) });
  try {
    const rounds = new Rounds(platform, await schedulerStubs(platform, shards));
    // Warm-up: the first connections, objects and leases are not in the figures.
    await queueBuilds(platform, spreadQueue(`warm-${shards}`, LIMITS.global * 2));
    await rounds.drain(emptyDrain());
    const rpcFloorMs = await rounds.rpcFloor();

    const baseline = emptyDrain();
    let idleBaseline = emptyTiming();
    for (let i = 0; i < BASELINE_REPEATS; i++) {
      await queueBuilds(platform, spreadQueue(`base-${shards}`, BASELINE_ACCOUNTS), i * 10_000);
      if (i === 0) idleBaseline = await rounds.idle();
      await rounds.drain(baseline);
    }

    const mix = emptyDrain();
    const mixSingle: Fairness = { rounds: undefined, ms: undefined };
    const accounts = mixedQueue(`mix-${shards}`, QUEUED, ACCOUNTS, BIG);
    await queueBuilds(platform, accounts, 1_000_000);
    const idleMix = await rounds.idle();
    const single = await accountAwayFrom(platform, `mix-${shards}-single`, `mix-${shards}-big`, shards);
    let singleUuid: string | undefined;
    let queuedAt = 0;
    let queuedRound = 0;
    await rounds.drain(mix, async (round) => {
      if (round === 5) {
        [singleUuid] = await queueBuilds(platform, [single], 100_000_000);
        queuedAt = performance.now();
        queuedRound = round;
      } else if (singleUuid && mixSingle.rounds === undefined && (await watch(platform, singleUuid))) {
        mixSingle.rounds = round - queuedRound;
        mixSingle.ms = performance.now() - queuedAt;
      }
    });

    const bigSingle = await bigAgainstSingle(platform, rounds, shards);
    return {
      shards,
      rpcFloorMs,
      idleBaseline,
      idleMix,
      baseline,
      mix,
      mixSingle,
      bigSingle,
    };
  } finally {
    await platform.stop();
  }
}

/** One account with `BIG` queued builds; after three rounds, one build of another account. */
async function bigAgainstSingle(platform: BuildsPlatform, rounds: Rounds, shards: number): Promise<Fairness> {
  const big = `big-${shards}`;
  await queueBuilds(
    platform,
    Array.from({ length: BIG }, () => big),
    200_000_000,
  );
  const scratch = emptyDrain();
  for (let i = 0; i < 3; i++) await rounds.once(scratch);
  const single = await accountAwayFrom(platform, `big-${shards}-single`, big, shards);
  const [uuid] = await queueBuilds(platform, [single], 300_000_000);
  const queuedAt = performance.now();
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    await rounds.once(scratch);
    if (await watch(platform, uuid!)) {
      await platform.sql(
        "UPDATE builds SET status = 'stopped', build_outcome = 'cancelled' WHERE status = 'queued'",
      );
      return { rounds: round, ms: performance.now() - queuedAt };
    }
  }
  return { rounds: undefined, ms: undefined };
}

interface NodeFairness {
  big: number | undefined;
  mix: number | undefined;
  /** The same drain without the account with `BIG` builds: what that account costs the single build. */
  mixWithoutBig: number | undefined;
}

/** The same two fairness workloads with a statement run from Node. */
async function fairnessFromNode(db: pg.Client, platform: BuildsPlatform, statement: Statement) {
  await clearBuilds(db);
  await seedFromNode(
    db,
    platform,
    Array.from({ length: BIG }, () => `node-${statement}-big`),
  );
  for (let i = 0; i < 3; i++) await roundsUntilAdmitted(db, statement, LIMITS, "none", 1);
  const [single] = await queueBuilds(platform, [`node-${statement}-single`], 300_000_000);
  const big = await roundsUntilAdmitted(db, statement, LIMITS, single!, MAX_ROUNDS);

  const drain = async (prefix: string, big: number) => {
    await clearBuilds(db);
    await seedFromNode(db, platform, mixedQueue(prefix, QUEUED - BIG + big, ACCOUNTS, big), 1_000_000);
    for (let i = 0; i < 4; i++) await roundsUntilAdmitted(db, statement, LIMITS, "none", 1);
    const [single] = await queueBuilds(platform, [`${prefix}-single`], 100_000_000);
    return roundsUntilAdmitted(db, statement, LIMITS, single!, MAX_ROUNDS);
  };
  const mix = await drain(`node-${statement}-mix`, BIG);
  const mixWithoutBig = await drain(`node-${statement}-nobig`, 0);
  await clearBuilds(db);
  return { big, mix, mixWithoutBig };
}

// ---- report -----------------------------------------------------------------------------------------

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const p = (xs: number[], q: number) => ms(percentile(xs, q)).padStart(7);
const modeName = (m: ModeResult) => (m.shards === 1 ? "one scheduler" : `${m.shards} shards`);

function timingText(t: Timing): string {
  return `seen from Node p50 ${p(t.nodeMs, 50)} p90 ${p(t.nodeMs, 90)}   in the objects p50 ${p(t.objectMs, 50)} p90 ${p(t.objectMs, 90)}`;
}

function drainLines(name: string, d: Drain): string[] {
  return [
    `${name.padEnd(28)} rounds ${String(d.nodeMs.length).padStart(4)}, admitted ${d.admitted} by them ` +
      `(${d.admittedInAll} in all), ${(d.admitted / d.nodeMs.length).toFixed(1)} a round`,
    `${"".padEnd(28)} ${timingText(d)}  p99 ${p(d.nodeMs, 99)} / ${p(d.objectMs, 99)}`,
    `${"".padEnd(28)} admitted/s: ${rate(d).toFixed(0)} over the rounds, ${((d.admitted / d.wallMs) * 1000).toFixed(0)} ` +
      `with the releases, ${objectRate(d).toFixed(0)} over the objects' own time`,
  ];
}

/** Admissions per second over the rounds as Node saw them. */
const rate = (d: Drain) => (d.admitted / sum(d.nodeMs)) * 1000;
/** Admissions per second over the time the rounds took inside the scheduler objects. */
const objectRate = (d: Drain) => (d.admitted / Math.max(1, sum(d.objectMs))) * 1000;
const roundsText = (f: { rounds: number | undefined; ms?: number | undefined }) =>
  f.rounds === undefined ? "never" : `round ${f.rounds}${f.ms === undefined ? "" : ` (${ms(f.ms)})`}`;

function report(statements: StatementFigure[], node: Record<Statement, NodeFairness>, modes: ModeResult[]) {
  console.log(
    `1. the admission statement alone (Node, rolled back), median and p90 of ${STATEMENT_RUNS}; shard: the current ` +
      `one over one shard's accounts of ${SHARDS}, ceiling ${Math.ceil(LIMITS.global / SHARDS)}`,
  );
  const base = (statement: StatementFigure["statement"]) =>
    percentile(
      statements.find((f) => f.statement === statement && f.shape.startsWith(`${BASELINE_ACCOUNTS} `))!.ms,
      50,
    );
  for (const f of statements) {
    const p50 = percentile(f.ms, 50);
    console.log(
      `${f.statement.padEnd(9)} ${f.shape.padEnd(30)} p50 ${p(f.ms, 50)}  p90 ${p(f.ms, 90)}` +
        `  ${(p50 / base(f.statement)).toFixed(1)}x its baseline`,
    );
  }
  for (const shape of new Set(statements.map((f) => f.shape))) {
    const of = (s: StatementFigure["statement"]) =>
      percentile(statements.find((f) => f.shape === shape && f.statement === s)!.ms, 50);
    console.log(
      `ratio ${shape}: replaced / current ${(of("replaced") / of("current")).toFixed(2)}x, ` +
        `a shard's (1 of ${SHARDS}) / current ${(of("shard") / of("current")).toFixed(2)}x`,
    );
  }

  console.log(`\n2a. rounds on workerd that admit nothing (global limit reached), ${IDLE_ROUNDS} each`);
  for (const m of modes) {
    console.log(
      `${`${modeName(m)}, RPC floor`.padEnd(28)} seen from Node p50 ${p(m.rpcFloorMs, 50)} p90 ${p(m.rpcFloorMs, 90)}`,
    );
    console.log(`${`${modeName(m)}, baseline`.padEnd(28)} ${timingText(m.idleBaseline)}`);
    console.log(`${`${modeName(m)}, ${QUEUED} queued`.padEnd(28)} ${timingText(m.idleMix)}`);
    const ratio = (t: keyof Timing) =>
      (percentile(m.idleMix[t], 50) / Math.max(1, percentile(m.idleBaseline[t], 50))).toFixed(2);
    console.log(
      `ratio ${modeName(m)}: ${ratio("nodeMs")}x the baseline's p50 from Node, ${ratio("objectMs")}x in the objects`,
    );
  }

  console.log(
    "\n2b. rounds on workerd that admit (with the BuildBuddy starts they make, on the same workerd; releases between)",
  );
  for (const m of modes) {
    for (const line of drainLines(`${modeName(m)}, baseline`, m.baseline)) console.log(line);
    for (const line of drainLines(`${modeName(m)}, ${QUEUED} queued`, m.mix)) console.log(line);
    console.log(
      `ratio ${modeName(m)}: admitted/s ${(rate(m.mix) / rate(m.baseline)).toFixed(2)}x the baseline's over the ` +
        `rounds, ${(objectRate(m.mix) / objectRate(m.baseline)).toFixed(2)}x over the objects' time`,
    );
  }
  if (modes.length === 2) {
    const [one, sharded] = modes as [ModeResult, ModeResult];
    console.log(
      `ratio ${modeName(sharded)} / one scheduler, ${QUEUED} queued: admitted/s ${(rate(sharded.mix) / rate(one.mix)).toFixed(2)}x ` +
        `over the rounds, ${(objectRate(sharded.mix) / objectRate(one.mix)).toFixed(2)}x over the objects' time`,
    );
  }

  console.log("\n3. fairness: the round, after it was queued, that admits another account's single build");
  for (const m of modes) {
    console.log(
      `${modeName(m).padEnd(16)} against ${BIG} queued in one account: ${roundsText(m.bigSingle)}; ` +
        `in the ${QUEUED}-build drain: ${roundsText(m.mixSingle)}`,
    );
  }
  for (const s of ["current", "replaced"] as const) {
    console.log(
      `${`${s} (Node)`.padEnd(16)} against ${BIG} queued in one account: ${roundsText({ rounds: node[s].big })}; ` +
        `in the ${QUEUED}-build drain: ${roundsText({ rounds: node[s].mix })}, without the ${BIG}-build ` +
        `account's builds: ${roundsText({ rounds: node[s].mixWithoutBig })}`,
    );
  }
}

async function main() {
  const load = loadavg().map((l) => l.toFixed(2));
  // Miniflare prints the Workers' logs with console.log; the figures are printed at the end.
  const print = console.log;
  console.log = () => {};
  let statements: StatementFigure[] = [];
  const node: Record<Statement, NodeFairness> = {
    current: { big: undefined, mix: undefined, mixWithoutBig: undefined },
    replaced: { big: undefined, mix: undefined, mixWithoutBig: undefined },
  };
  const modes: ModeResult[] = [];
  try {
    {
      const platform = await startBuildsPlatform({ builds: platformConfig(1) });
      const db = await connect(platform);
      try {
        statements = await statementAlone(db, platform);
        for (const statement of ["replaced", "current"] as const) {
          node[statement] = await fairnessFromNode(db, platform, statement);
        }
      } finally {
        await db.end();
        await platform.stop();
      }
    }
    for (const shards of [1, SHARDS]) modes.push(await runMode(shards));
  } finally {
    console.log = print;
  }
  console.log(`load average at start: ${load.join(" ")}`);
  console.log(
    `limits: ${LIMITS.perAccount} per account, ${LIMITS.global} global; queues: ${QUEUED} builds across ` +
      `${ACCOUNTS} accounts (${BIG} of them in one account, older than the rest), baseline ` +
      `${BASELINE_ACCOUNTS} builds in ${BASELINE_ACCOUNTS} accounts\n`,
  );
  report(statements, node, modes);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
