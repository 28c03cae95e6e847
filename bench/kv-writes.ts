import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { bundleWorker } from "../components/bundle";
import { tetherWorkerd } from "../local/target/workerd-tether";
import { type Load, load, rps, type Target } from "./load";
import { percentile, sleep } from "./stats";

/**
 * The framework's KV writes (issue 12): chained writes per second to one document and to many, with the
 * writer (every write of a key serialised by its KvWriter object) and without it (last-write-wins, a KV
 * read then a KV write, losing concurrent writes), and read latency from KV against through the writer.
 * A Worker of its own on workerd through Miniflare (`bench/workers/kv-writes.ts`), a closed-loop load
 * generator in this process; targets take turns, round by round, so each sees the same machine load.
 */
const CONCURRENCY = Number(process.env.BENCH_KV_CONCURRENCY ?? 16);
const SECONDS = Number(process.env.BENCH_KV_SECONDS ?? 4);
const ROUNDS = 2;
const DOCS = 100;
const ENTRY = path.join(__dirname, "workers", "kv-writes.ts");

async function main() {
  const bundle = await bundleWorker(ENTRY, { nodejsCompat: true });
  tetherWorkerd();
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: [{ type: "ESModule", path: "index.js", contents: bundle.content }],
      compatibilityDate: "2026-10-01",
      compatibilityFlags: ["nodejs_compat"],
      kvNamespaces: ["KV"],
      durableObjects: { KV_WRITER: { className: "KvWriter", useSQLite: true } },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    }),
  );
  try {
    const base = (await mf.unsafeGetDirectURL()).toString().replace(/\/$/, "");
    let n = 0;
    const ok = async (url: string, method = "GET") => {
      const res = await fetch(url, { method });
      await res.arrayBuffer();
      return res.status === 200;
    };
    /** Writes acknowledged (answered 200) per document prefix, warm-up included. */
    const acknowledged = new Map<string, number>();
    const writes = (mode: "serialized" | "lww", docs: number, prefix: string): Target => ({
      name: `${mode === "lww" ? "last-write-wins" : "serialized"} chained writes, ${docs === 1 ? "one document" : `${docs} documents`}`,
      send: async () => {
        n++;
        const doc = `${prefix}-${docs === 1 ? 0 : n % docs}`;
        const done = await ok(`${base}/write?mode=${mode}&doc=${doc}&field=f${n}`, "POST");
        if (done) acknowledged.set(prefix, (acknowledged.get(prefix) ?? 0) + 1);
        return done;
      },
    });
    await ok(`${base}/write?mode=serialized&doc=read&field=seed`, "POST");
    await sleep(1500); // the seed's copy reaches KV
    const targets: Target[] = [
      writes("serialized", 1, "s1"),
      writes("lww", 1, "l1"),
      writes("serialized", DOCS, "sm"),
      writes("lww", DOCS, "lm"),
      { name: "read from KV", send: () => ok(`${base}/read?mode=kv&doc=read`) },
      { name: "read through the writer", send: () => ok(`${base}/read?mode=writer&doc=read`) },
    ];
    for (const t of targets) await load(t, 500, CONCURRENCY);
    const results = targets.map((): Load => ({ requests: 0, errors: 0, ms: 0, latencies: [] }));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, t] of targets.entries()) {
        const once = await load(t, (SECONDS * 1000) / ROUNDS, CONCURRENCY);
        const total = results[i]!;
        total.requests += once.requests;
        total.errors += once.errors;
        total.ms += once.ms;
        total.latencies.push(...once.latencies);
        await sleep(200);
      }
    }
    // What the one-document runs kept: every acknowledged write with the writer, some without.
    const kept = async (doc: string) =>
      ((await (await fetch(`${base}/fields?doc=${doc}`)).json()) as { fields: number }).fields;
    console.log(
      `load: ${CONCURRENCY} requests in flight, ${SECONDS} s per target in ${ROUNDS} turns, Node fetch on the same machine`,
    );
    console.log(`${"".padEnd(48)} requests/s      p50       p99  errors`);
    for (const [i, t] of targets.entries()) {
      const l = results[i]!;
      console.log(
        `${t.name.padEnd(48)} ${rps(l).toFixed(0).padStart(10)} ${percentile(l.latencies, 50).toFixed(1).padStart(6)} ms` +
          ` ${percentile(l.latencies, 99).toFixed(1).padStart(6)} ms  ${String(l.errors).padStart(6)}`,
      );
    }
    const [s1, l1, sm, lm, kv, writer] = results as [Load, Load, Load, Load, Load, Load];
    await sleep(1500); // the serialized document's last copy reaches KV too
    const lwwKept = Object.keys(
      ((await (await fetch(`${base}/read?mode=kv&doc=l1-0`)).json()) as { fields?: object } | null)?.fields ??
        {},
    ).length;
    console.log(
      `kept      one document: serialized ${await kept("s1-0")} fields of ${acknowledged.get("s1")} writes acknowledged; ` +
        `last-write-wins ${lwwKept} of ${acknowledged.get("l1")}`,
    );
    console.log(
      `ratio     serialized / last-write-wins writes/s: one document ${(rps(s1) / rps(l1)).toFixed(2)}x, ` +
        `${DOCS} documents ${(rps(sm) / rps(lm)).toFixed(2)}x`,
    );
    console.log(
      `ratio     read through the writer / from KV: p50 ${(percentile(writer.latencies, 50) / percentile(kv.latencies, 50)).toFixed(2)}x, ` +
        `requests/s ${(rps(writer) / rps(kv)).toFixed(2)}x`,
    );
  } finally {
    await mf.dispose();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
