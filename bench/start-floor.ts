/**
 * The warm start's floor, run as its own process by `bench/start.ts`: Miniflare starting the platform's
 * Workers exactly as the local target configures them (the graph the target cached in the state folder,
 * the same options), and nothing else: no PostgreSQL, no Hyperdrive pool (its bindings point at a port
 * nobody listens on, which workerd only dials when a Worker connects), no build runner. Prints
 * `answered` once every Worker answered a request.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { CapturedResource } from "../local/graph";
import { freePort } from "../local/ports";
import { miniflareOptions, planLocal } from "../local/target/miniflare-plan";
import { tetherWorkerd } from "../local/target/workerd-tether";

async function main() {
  const stateDir = process.argv[2];
  if (!stateDir) throw new Error("usage: start-floor <state folder of a target started before>");
  const { resources } = JSON.parse(readFileSync(path.join(stateDir, "graph.json"), "utf8")) as {
    resources: CapturedResource[];
  };
  const plan = planLocal(resources);
  const unused = await freePort();
  const hyperdriveUrls = new Map(
    plan.hyperdrives.map((h) => [
      h.id,
      `postgres://${encodeURIComponent(h.origin.user)}:${encodeURIComponent(h.origin.password)}@127.0.0.1:${unused}/${h.origin.database}`,
    ]),
  );
  const ports = new Map<string, number>();
  for (const w of plan.workers) ports.set(w.name, await freePort());
  const persistencePath = mkdtempSync(path.join(tmpdir(), "wp-bench-floor-"));
  const { Miniflare, convertV4MiniflareOptions } = require("miniflare") as typeof import("miniflare");
  tetherWorkerd();
  const mf = new Miniflare(
    convertV4MiniflareOptions(miniflareOptions(plan, { persistencePath, hyperdriveUrls, ports })),
  );
  try {
    await mf.ready;
    await Promise.all(
      plan.workers.map(async (w) => (await fetch(await mf.unsafeGetDirectURL(w.name))).text()),
    );
    process.stdout.write("answered\n");
  } finally {
    await mf.dispose();
    rmSync(persistencePath, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
