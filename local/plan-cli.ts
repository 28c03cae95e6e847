import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { exitOnHelp } from "./cli-args";
import { maskGraph } from "./mask";
import { captureStack } from "./synth";
import { planLocal } from "./target/miniflare-plan";

/**
 * Prints what the local target would run for a stack (Workers with their Miniflare options, crons, hosts,
 * D1 databases, queue consumers, what is not emulated) as JSON, secrets masked and module sources as
 * digests. The workerd test project derives its bindings from it.
 */
const USAGE = "usage: npm run plan -- [--stack <name>] [--config-file <path>] [--program <entry.ts>]";

async function main(): Promise<number> {
  exitOnHelp(USAGE);
  const { values } = parseArgs({
    options: {
      stack: { type: "string", default: "local" },
      "config-file": { type: "string" },
      program: { type: "string" },
    },
  });
  // The plan is made from the graph with its secrets already masked, so none can reach what is printed.
  const plan = planLocal(
    maskGraph(
      await captureStack({
        stack: values.stack as string,
        configFile: values["config-file"],
        entry: values.program,
      }),
    ),
  );
  const printed = {
    ...plan,
    workers: plan.workers.map((w) => ({
      ...w,
      modules: w.modules.map((m) => ({
        ...m,
        contents: createHash("sha256").update(m.contents).digest("hex"),
      })),
    })),
  };
  process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`plan failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
