import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * Warm start of the whole platform (`npm start` with its data already initialised) against a bare
 * single-Worker start in the style of `wrangler dev`: a Node process that starts Miniflare with one
 * module Worker. Both are timed as whole processes from spawn until every Worker has answered a request,
 * interleaved run by run so they share the machine's load.
 */
const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const BARE = `
const { Miniflare, convertV4MiniflareOptions } = require("miniflare");
(async () => {
  const mf = new Miniflare(convertV4MiniflareOptions({
    modules: [{ type: "ESModule", path: "index.js", contents: "export default { fetch: () => new Response('ok') }" }],
    compatibilityDate: "2026-10-01",
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  }));
  const url = await mf.unsafeGetDirectURL();
  await (await fetch(url)).text();
  process.stdout.write("answered\\n");
  await mf.dispose();
})();
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bare(): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, ["-e", BARE], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("answered") && resolve());
    child.on("exit", (code) =>
      code === 0 ? undefined : reject(new Error(`bare start exited with ${code}`)),
    );
  });
  const ms = performance.now() - start;
  await new Promise((resolve) => child.once("exit", resolve));
  return ms;
}

async function platform(stateDir: string): Promise<number> {
  const start = performance.now();
  const child = spawn(
    process.execPath,
    ["-r", "./local/register.cjs", "local/start-cli.ts", "--state-dir", stateDir],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let output = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      output += d;
      if (output.includes("ready in")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`npm start exited with ${code}: ${output}`)));
  });
  const { workers } = JSON.parse(readFileSync(path.join(stateDir, "endpoints.json"), "utf8")) as {
    workers: Record<string, string>;
  };
  await Promise.all(Object.values(workers).map(async (url) => (await fetch(url)).text()));
  const ms = performance.now() - start;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  await exited;
  await new Promise((resolve) => setTimeout(resolve, 300)); // PostgreSQL finishes its fast shutdown
  return ms;
}

async function main() {
  const stateDir = mkdtempSync(path.join(tmpdir(), "wp-bench-start-"));
  chmodSync(stateDir, 0o755);
  try {
    const cold = await platform(stateDir);
    const bareTimes: number[] = [];
    const warmTimes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      bareTimes.push(await bare());
      warmTimes.push(await platform(stateDir));
    }
    const b = median(bareTimes);
    const w = median(warmTimes);
    console.log(`runs per figure: ${RUNS} (median), whole processes until every Worker answered`);
    console.log(`baseline  bare single-Worker Miniflare start        ${b.toFixed(0)} ms`);
    console.log(`platform  npm start, warm (3 Workers + PostgreSQL)   ${w.toFixed(0)} ms`);
    console.log(`ratio     warm platform / baseline                  ${(w / b).toFixed(2)}x`);
    console.log(`platform  npm start, cold (initdb, migrations)       ${cold.toFixed(0)} ms (one run)`);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0));
