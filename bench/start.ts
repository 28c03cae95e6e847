import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";

/**
 * Warm start of the whole platform (`npm start` with its data already initialised) against a bare
 * single-Worker start in the style of `wrangler dev`: a Node process that starts Miniflare with one
 * module Worker. Both are timed as whole processes from spawn until every Worker has answered a request,
 * interleaved run by run so they share the machine's load. The build runner is not waited for (the target
 * reports ready before it, see README); when it is ready is reported beside, and each run waits for it
 * and for the runner's exit, so that no run's runner works during the next measurement. A floor runs
 * between them: Miniflare alone starting the platform's Workers with the target's options
 * (`start-floor.ts`), which is what is left of a warm start once PostgreSQL, the pool and the runner cost
 * nothing.
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

/** A process's time from spawn until it printed `answered`; waits for its exit. */
async function answered(what: string, args: string[]): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d) => String(d).includes("answered") && resolve());
    child.on("exit", (code) => (code === 0 ? undefined : reject(new Error(`${what} exited with ${code}`))));
  });
  const ms = performance.now() - start;
  await new Promise((resolve) => child.once("exit", resolve));
  return ms;
}

const bare = () => answered("the bare start", ["-e", BARE]);

/** The floor: Miniflare alone with the platform's Workers as the target configures them (`start-floor.ts`). */
const floor = (stateDir: string) =>
  answered("the floor", ["-r", "./local/register.cjs", "bench/start-floor.ts", stateDir]);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function platform(stateDir: string): Promise<{ ms: number; runnerMs: number; evaluated: boolean }> {
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
  while (!/build runner for .* ready/.test(output)) {
    if (performance.now() - start > 30_000) throw new Error(`the build runner did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const runnerMs = performance.now() - start;
  const runnerPid = Number(/build runner for .* \(pid (\d+)\)/.exec(output)?.[1]);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  await exited;
  while (alive(runnerPid)) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 300)); // PostgreSQL finishes its fast shutdown
  return { ms, runnerMs, evaluated: output.includes("evaluating the program") };
}

async function main() {
  const stateDir = mkdtempSync(path.join(tmpdir(), "wp-bench-start-"));
  chmodSync(stateDir, 0o755);
  try {
    const load = loadavg()[0]!;
    const cold = (await platform(stateDir)).ms;
    const bareTimes: number[] = [];
    const floorTimes: number[] = [];
    const warmTimes: number[] = [];
    const runnerTimes: number[] = [];
    // A run that had to evaluate the program (a source file changed meanwhile, as on a machine where
    // others work in the same checkout) was not a warm start: it is left out, with its baseline.
    let discarded = 0;
    while (warmTimes.length < RUNS && discarded < 3 * RUNS) {
      const bareMs = await bare();
      const floorMs = await floor(stateDir);
      const warm = await platform(stateDir);
      if (warm.evaluated) {
        discarded++;
        continue;
      }
      bareTimes.push(bareMs);
      floorTimes.push(floorMs);
      warmTimes.push(warm.ms);
      runnerTimes.push(warm.runnerMs);
    }
    if (discarded > 0)
      console.log(`left out: ${discarded} run(s) that evaluated the program (a source changed)`);
    const b = median(bareTimes);
    const w = median(warmTimes);
    const f = median(floorTimes);
    console.log(
      `runs per figure: ${RUNS} (median), whole processes until every Worker answered; load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
    );
    console.log(`baseline  bare single-Worker Miniflare start        ${b.toFixed(0)} ms`);
    console.log(`platform  npm start, warm (3 Workers + PostgreSQL)   ${w.toFixed(0)} ms`);
    console.log(`floor     Miniflare alone, the platform's 3 Workers  ${f.toFixed(0)} ms`);
    console.log(`ratio     warm platform / baseline                  ${(w / b).toFixed(2)}x`);
    console.log(`ratio     floor / baseline                          ${(f / b).toFixed(2)}x`);
    console.log(`ratio     warm platform / floor                     ${(w / f).toFixed(2)}x`);
    console.log(`platform  build runner ready, after the start         ${median(runnerTimes).toFixed(0)} ms`);
    console.log(`platform  npm start, cold (initdb, migrations)       ${cold.toFixed(0)} ms (one run)`);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0));
