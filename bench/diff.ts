import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import path from "node:path";
import { median } from "./stats";

/**
 * How long `npm run diff` takes on this 4-stack repository, against a baseline measured in the same run:
 * two `npm run synth` processes one after the other (the base's graph and the head's, each made the
 * plain way). A diff makes both graphs in one process, plus a temporary git worktree of the base; the
 * bound is under 2x the baseline. Interleaved runs, so that both see the same machine load.
 */
const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const STACK = process.env.BENCH_STACK ?? "prod";
const BASE = process.env.BENCH_BASE ?? "HEAD~1";

function timeProcess(args: string[]): number {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, ["-r", "./local/register.cjs", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (res.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${res.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function main() {
  const load = loadavg()[0] as number;
  const synthArgs = ["local/synth-cli.ts", "--stack", STACK];
  const diffArgs = ["local/diff-cli.ts", "--stack", STACK, "--base", BASE, "--format", "json"];
  // One run of each first, so that both measure warm caches (bundles, serialized provider, V8 code).
  timeProcess(synthArgs);
  timeProcess(diffArgs);
  const twoSynths: number[] = [];
  const diffs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    twoSynths.push(timeProcess(synthArgs) + timeProcess(synthArgs));
    diffs.push(timeProcess(diffArgs));
  }
  const baseline = median(twoSynths);
  const diff = median(diffs);
  console.log(
    `runs per figure: ${RUNS} (median); load average ${load.toFixed(1)} → ${loadavg()[0]?.toFixed(1)}`,
  );
  console.log(
    `baseline  two npm run synth -- --stack ${STACK}, one after the other   ${baseline.toFixed(0)} ms`,
  );
  console.log(
    `diff      npm run diff -- --stack ${STACK} --base ${BASE}               ${diff.toFixed(0)} ms`,
  );
  console.log(
    `ratio     diff / two synths                                  ${(diff / baseline).toFixed(2)}x (bound: < 2x)`,
  );
}

main();
