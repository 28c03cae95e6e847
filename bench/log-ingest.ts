import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundleWorker } from "../components/bundle";
import { median } from "./stats";
import type {
  AppendAnswer,
  IngestAnswer,
  LogIngestMethod,
  ReadAnswer,
  StagedBatch,
} from "./workers/log-ingest-api";

/**
 * Log ingest into one BuildBuddy's storage: a build's log appended through the real `LogStore` (batches with
 * sequence numbers, some arriving out of order, some resent) and read back page by page with its cursor,
 * against the limit: the same rows inserted into a plain table of the same Durable Object's SQLite, one
 * transaction per batch, and read back with the same keyset query. Both run in a bench-only Durable Object
 * (`bench/workers/log-ingest.ts`) on workerd through Miniflare, with its SQLite on disk as the local target
 * keeps it; each round is a fresh object and alternates which path goes first. Each path is one call with
 * every batch staged beforehand; a last path sends the same arrivals one request per batch, as a runner's
 * log callbacks arrive, to show what a request costs beside the storage work.
 */
const LINES = Number(process.env.BENCH_LOG_LINES ?? 200_000);
const BATCH = Number(process.env.BENCH_LOG_BATCH ?? 1000);
const PAGE = Number(process.env.BENCH_LOG_PAGE ?? 1000);
const ROUNDS = Number(process.env.BENCH_LOG_ROUNDS ?? 5);
/** Share of adjacent batch pairs that arrive swapped, and of batches sent a second time a little later. */
const SWAPPED = 0.1;
const RESENT = 0.05;
const ENTRY = path.join(__dirname, "workers", "log-ingest.ts");

/** A small seeded generator, so every run sends the same arrival order. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Workload {
  /** Batches 1..n in sequence order: what readers must get back. */
  inOrder: StagedBatch[];
  /** What the store receives: some pairs swapped, some batches twice. */
  arrivals: StagedBatch[];
  swapped: number;
  resent: number;
  lineBytes: number;
}

function workload(): Workload {
  const start = Date.UTC(2026, 10, 23);
  const inOrder: StagedBatch[] = [];
  for (let seq = 1, i = 0; i < LINES; seq++) {
    const lines = [];
    for (let j = 0; j < BATCH && i < LINES; j++, i++) {
      lines.push({
        ts: start + i,
        line: `[build] step ${i}: compiled src/module-${i % 97}.ts in ${i % 13} ms`,
      });
    }
    inOrder.push({ seq, lines });
  }
  const rand = random(42);
  const order = [...inOrder];
  let swapped = 0;
  for (let i = 0; i + 1 < order.length; i++) {
    if (rand() < SWAPPED) {
      [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
      swapped++;
      i++;
    }
  }
  const arrivals: StagedBatch[] = [];
  const again = new Map<number, StagedBatch[]>();
  let resent = 0;
  for (const [i, batch] of order.entries()) {
    arrivals.push(batch, ...(again.get(i) ?? []));
    if (rand() < RESENT) {
      const at = i + 1 + Math.floor(rand() * 10);
      again.set(at, [...(again.get(at) ?? []), batch]);
      resent++;
    }
  }
  for (const [at, batches] of again) if (at >= order.length) arrivals.push(...batches);
  const bytes = inOrder.reduce(
    (sum, b) => sum + b.lines.reduce((s, l) => s + Buffer.byteLength(l.line), 0),
    0,
  );
  return { inOrder, arrivals, swapped, resent, lineBytes: bytes / LINES };
}

function digest(batches: StagedBatch[]): string {
  const hash = createHash("sha256");
  for (const b of batches) for (const l of b.lines) hash.update(`${l.ts}\t${l.line}\n`);
  return hash.digest("hex");
}

interface Timed<T> {
  answer: T;
  /** Around the call, in Node: Node to workerd over HTTP, the Worker, and its RPC to the object. */
  outsideMs: number;
}

/** Calls one of the object's methods through the bench Worker; `body` is JSON text. */
async function call<T>(base: URL, object: string, method: LogIngestMethod, body?: string): Promise<T> {
  const res = await fetch(new URL(`/${object}/${method}?page=${PAGE}`, base), {
    method: "POST",
    body,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} on ${object} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

async function timed<T>(base: URL, object: string, method: LogIngestMethod): Promise<Timed<T>> {
  const start = performance.now();
  const answer = await call<T>(base, object, method);
  return { answer, outsideMs: performance.now() - start };
}

interface Round {
  store: Timed<IngestAnswer>;
  raw: Timed<IngestAnswer>;
  readStore: Timed<ReadAnswer>;
  readRaw: Timed<ReadAnswer>;
  storeSha256: string;
  rawSha256: string;
  perCall: {
    added: number;
    duplicates: number;
    insideMs: number;
    outsideMs: number;
    lines: number;
    sha256: string;
  };
}

/**
 * The same arrivals, one request per batch as the runner's callbacks send them (one at a time), into an
 * object of its own; the batches are serialized beforehand, and the object's own time is summed.
 */
async function perCall(base: URL, object: string, w: Workload): Promise<Round["perCall"]> {
  const bodies = w.arrivals.map((b) => JSON.stringify(b));
  let added = 0;
  let duplicates = 0;
  let insideMs = 0;
  const start = performance.now();
  for (const body of bodies) {
    const result = await call<AppendAnswer>(base, object, "append", body);
    added += result.added;
    insideMs += result.ms;
    if (result.duplicate) duplicates++;
  }
  const outsideMs = performance.now() - start;
  const read = await call<ReadAnswer>(base, object, "read-all");
  return {
    added,
    duplicates,
    insideMs,
    outsideMs,
    lines: read.lines,
    sha256: await call<string>(base, object, "sha256"),
  };
}

async function round(base: URL, object: string, w: Workload, storeFirst: boolean): Promise<Round> {
  const runStore = async () => {
    await call(base, object, "stage", JSON.stringify(w.arrivals));
    return timed<IngestAnswer>(base, object, "ingest");
  };
  const runRaw = async () => {
    await call(base, object, "stage", JSON.stringify(w.inOrder));
    return timed<IngestAnswer>(base, object, "raw");
  };
  let store: Timed<IngestAnswer>;
  let raw: Timed<IngestAnswer>;
  if (storeFirst) {
    store = await runStore();
    raw = await runRaw();
  } else {
    raw = await runRaw();
    store = await runStore();
  }
  await call(base, object, "stage", "[]");
  const readStore = await timed<ReadAnswer>(base, object, "read-all");
  const storeSha256 = await call<string>(base, object, "sha256");
  const readRaw = await timed<ReadAnswer>(base, object, "read-raw");
  const rawSha256 = await call<string>(base, object, "sha256");
  return {
    store,
    raw,
    readStore,
    readRaw,
    storeSha256,
    rawSha256,
    perCall: await perCall(base, `${object}-per-call`, w),
  };
}

const rate = (lines: number, ms: number) => Math.round((lines / ms) * 1000);
const fmt = (perSecond: number) => `${perSecond.toLocaleString("en-US").padStart(10)} lines/s`;

async function main() {
  const persist = mkdtempSync(path.join(tmpdir(), "bench-log-ingest-"));
  const bundle = await bundleWorker(ENTRY, { nodejsCompat: true });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: [{ type: "ESModule", path: "index.js", contents: bundle.content }],
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["nodejs_compat"],
      durableObjects: { LOGS: { className: "LogIngestBench", useSQLite: true } },
      resourcePersistencePath: persist,
      // As the local target serves each Worker: its own socket, not through Miniflare's entry Worker.
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    }),
  );
  try {
    const base = await mf.unsafeGetDirectURL();
    const w = workload();
    const expected = digest(w.inOrder);
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      rounds.push(await round(base, `round-${r}`, w, r % 2 === 0));
    }

    const problems: string[] = [];
    for (const [r, x] of rounds.entries()) {
      const check = (what: string, got: unknown, want: unknown) => {
        if (got !== want) problems.push(`round ${r + 1}: ${what} was ${got}, expected ${want}`);
      };
      check("LogStore lines made readable", x.store.answer.added, LINES);
      check("LogStore duplicates recognised", x.store.answer.duplicates, w.resent);
      check("LogStore lines read back", x.readStore.answer.lines, LINES);
      check("digest of LogStore lines read back", x.storeSha256, expected);
      check("LogStore lines made readable, a request per batch", x.perCall.added, LINES);
      check("LogStore duplicates recognised, a request per batch", x.perCall.duplicates, w.resent);
      check("LogStore lines read back, a request per batch", x.perCall.lines, LINES);
      check("digest of LogStore lines read back, a request per batch", x.perCall.sha256, expected);
      check("raw lines read back", x.readRaw.answer.lines, LINES);
      check("digest of raw lines read back", x.rawSha256, expected);
    }

    const inside = (pick: (x: Round) => Timed<IngestAnswer | ReadAnswer>) =>
      median(rounds.map((x) => rate(LINES, pick(x).answer.ms)));
    const outside = (pick: (x: Round) => Timed<IngestAnswer | ReadAnswer>) =>
      median(rounds.map((x) => rate(LINES, pick(x).outsideMs)));
    const rawIn = inside((x) => x.raw);
    const rawOut = outside((x) => x.raw);
    const storeIn = inside((x) => x.store);
    const storeOut = outside((x) => x.store);
    const pct = (a: number, b: number) => `${((a / b) * 100).toFixed(0)}%`.padStart(16);

    console.log(
      `lines per round: ${LINES.toLocaleString("en-US")} in ${w.inOrder.length} batches of ${BATCH} ` +
        `(${w.lineBytes.toFixed(0)} bytes a line); arrivals: ${w.arrivals.length} batches, ${w.swapped} pairs ` +
        `swapped, ${w.resent} resent; rounds: ${ROUNDS} (median), each a fresh Durable Object, SQLite on disk`,
    );
    console.log("                                     inside the DO        from Node (HTTP + RPC)");
    console.log(`baseline  raw INSERT, tx per batch   ${fmt(rawIn)}   ${fmt(rawOut)}`);
    console.log(`LogStore  append (dedup, ordering)   ${fmt(storeIn)}   ${fmt(storeOut)}`);
    console.log(`ratio     LogStore / raw             ${pct(storeIn, rawIn)}   ${pct(storeOut, rawOut)}`);
    const perCallIn = median(rounds.map((x) => rate(LINES, x.perCall.insideMs)));
    const perCallOut = median(rounds.map((x) => rate(LINES, x.perCall.outsideMs)));
    console.log(`LogStore  append, a request a batch  ${fmt(perCallIn)}   ${fmt(perCallOut)}`);
    console.log(
      `baseline  raw SELECT, pages of ${PAGE}     ${fmt(inside((x) => x.readRaw))}   ${fmt(outside((x) => x.readRaw))}`,
    );
    console.log(
      `LogStore  read, pages of ${PAGE}          ${fmt(inside((x) => x.readStore))}   ${fmt(outside((x) => x.readStore))}`,
    );
    if (problems.length > 0) {
      console.log(`LOST OR MISORDERED LINES:\n  ${problems.join("\n  ")}`);
      process.exitCode = 1;
    } else {
      console.log(
        `verified  every round, both LogStore paths: ${LINES} lines readable, ${w.resent} resent batches stored once, and the ` +
          "lines read back (count, order, text, ts) equal to those sent: 0 lost",
      );
    }
  } finally {
    await mf.dispose();
    rmSync(persist, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
