import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import path from "node:path";
import { synth } from "../local/synth";
import { median } from "./stats";

/**
 * How long `npm run synth` takes, against a baseline measured in the same run on the same machine: a bare
 * Node process that only loads the Pulumi SDK and the providers the program uses. The ratio is what the
 * program itself adds (evaluating the graph; bundling the Workers and serializing the dynamic provider
 * when their caches do not hold them). A second baseline loads the same modules through the project's
 * loader, with the V8 code cache every command of the project has: the ratio to it is what the program
 * adds on equal terms, and the difference between the two baselines is what the code cache saves.
 */
const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

function timeProcess(args: string[]): number {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  if (res.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${res.status}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main() {
  const load = loadavg()[0]!;
  const baseline: number[] = [];
  const cachedBaseline: number[] = [];
  const cli: number[] = [];
  const loadDeps = ["@pulumi/pulumi", "@pulumi/cloudflare", "@pulumi/postgresql", "@pulumi/random", "esbuild"]
    .map((m) => `require(${JSON.stringify(m)});`)
    .join("");
  const synthArgs = ["-r", "./local/register.cjs", "local/synth-cli.ts", "--stack", "prod"];
  // One run of each first, so that both measure warm caches (bundles, serialized provider, V8 code).
  timeProcess(["-r", "./local/register.cjs", "-e", loadDeps]);
  timeProcess(synthArgs);
  // Interleaved, so that all three see the same machine load.
  for (let i = 0; i < RUNS; i++) {
    baseline.push(timeProcess(["-e", loadDeps]));
    cachedBaseline.push(timeProcess(["-r", "./local/register.cjs", "-e", loadDeps]));
    cli.push(timeProcess(synthArgs));
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
  const bc = median(cachedBaseline);
  const c = median(cli);
  console.log(
    `runs per figure: ${RUNS} (median); load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`baseline  node loading @pulumi/* + esbuild                   ${b.toFixed(0)} ms`);
  console.log(`baseline  the same through the project's loader (code cache)  ${bc.toFixed(0)} ms`);
  console.log(`synth     npm run synth -- --stack prod                       ${c.toFixed(0)} ms`);
  console.log(`ratio     synth / baseline                                    ${(c / b).toFixed(2)}x`);
  console.log(`ratio     synth / baseline through the project's loader       ${(c / bc).toFixed(2)}x`);
  for (const [stack, ms] of Object.entries(inProcess)) {
    console.log(`in-process synth, warm, --stack ${stack.padEnd(8)}                    ${ms.toFixed(0)} ms`);
  }
  process.exit(0);
}

main();
