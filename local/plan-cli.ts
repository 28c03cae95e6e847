import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { exitOnHelp, type Invocation, resolveProgram, resolveStackFile } from "./cli-args";
import { maskGraph } from "./mask";
import { captureStack } from "./synth";
import { planLocal } from "./target/miniflare-plan";

const NPM: Invocation = { usage: "npm run plan --", name: "plan" };

/**
 * Prints what the local target would run for a stack (Workers with their Miniflare options, crons, hosts,
 * D1 databases, queue consumers, what is not emulated) as JSON, secrets masked and module sources as
 * digests. The workerd test project derives its bindings from it.
 */
export async function planCommand(argv: string[], invocation: Invocation = NPM): Promise<number> {
  const usage = `usage: ${invocation.usage} [--stack <name>] [--config-file <path>] [--program <entry.ts>]`;
  exitOnHelp(usage, argv);
  let values: { stack?: string; "config-file"?: string; program?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: "string", default: "local" },
        "config-file": { type: "string" },
        program: { type: "string" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 1;
  }
  try {
    const stack = values.stack as string;
    const { root, entry } = resolveProgram(values.program);
    const configFile = resolveStackFile(stack, values["config-file"], root);
    // The plan is made from the graph with its secrets already masked, so none can reach what is printed.
    const plan = planLocal(maskGraph(await captureStack({ stack, configFile, entry })));
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
  } catch (err) {
    process.stderr.write(`${invocation.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) planCommand(process.argv.slice(2)).then((code) => process.exit(code));
