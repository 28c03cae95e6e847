import { spawnSync } from "node:child_process";
import path from "node:path";
import { synth } from "../local/synth";

/**
 * How long `npm run synth` takes, against a baseline measured in the same run on the same machine: a bare
 * Node process that only loads the Pulumi SDK and the providers the program uses. The ratio is what the
 * program itself adds (bundling three Workers, serializing a dynamic provider, evaluating the graph).
 */
const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeProcess(args: string[]): number {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (res.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${res.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main() {
  const baseline: number[] = [];
  const cli: number[] = [];
  const loadDeps = ["@pulumi/pulumi", "@pulumi/cloudflare", "@pulumi/postgresql", "@pulumi/random", "esbuild"]
    .map((m) => `require(${JSON.stringify(m)});`)
    .join("");
  // Interleaved, so both see the same machine load.
  for (let i = 0; i < RUNS; i++) {
    baseline.push(timeProcess(["-e", loadDeps]));
    cli.push(timeProcess(["-r", "./local/register.cjs", "local/synth-cli.ts", "--stack", "prod"]));
  }
  const inProcess: Record<string, number> = {};
  for (const stack of ["local", "dev", "staging", "prod"]) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = process.hrtime.bigint();
      await synth({ stack });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    inProcess[stack] = median(times);
  }
  const b = median(baseline);
  const c = median(cli);
  console.log(`runs per figure: ${RUNS} (median)`);
  console.log(`baseline  node loading @pulumi/* + esbuild     ${b.toFixed(0)} ms`);
  console.log(`synth     npm run synth -- --stack prod         ${c.toFixed(0)} ms`);
  console.log(`ratio     synth / baseline                      ${(c / b).toFixed(2)}x`);
  for (const [stack, ms] of Object.entries(inProcess)) {
    console.log(`in-process synth, warm, --stack ${stack.padEnd(8)}      ${ms.toFixed(0)} ms`);
  }
  process.exit(0);
}

main();
