import { parseArgs } from "node:util";
import { exitOnHelp } from "./cli-args";
import { runDemo } from "./demo";
import { accountProblem } from "./token-cli";

const USAGE = "usage: npm run demo -- [--state-dir <path>] [--account <id>] [--verbose]";

/** Exit code: 0 when the demo's build succeeded, 1 on any other outcome or error, 130 when interrupted. */
async function main(): Promise<number> {
  exitOnHelp(USAGE);
  let values: { "state-dir"?: string; account?: string; verbose?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        "state-dir": { type: "string" },
        account: { type: "string" },
        verbose: { type: "boolean" },
      },
    }));
  } catch (err) {
    process.stderr.write(`npm run demo: ${(err as Error).message}\n${USAGE}\n`);
    return 1;
  }
  const problem = values.account === undefined ? undefined : accountProblem(values.account);
  if (problem) {
    process.stderr.write(`npm run demo: ${problem}\n${USAGE}\n`);
    return 1;
  }
  const interrupted = new AbortController();
  const onSignal = () => {
    if (interrupted.signal.aborted) process.exit(130);
    process.stdout.write("\ninterrupted: cleaning up (Ctrl-C again to quit at once)\n");
    interrupted.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const result = await runDemo({
      stateDir: values["state-dir"],
      account: values.account,
      verbose: values.verbose,
      signal: interrupted.signal,
    });
    if (interrupted.signal.aborted) return 130;
    return result.outcome === "success" ? 0 : 1;
  } catch (err) {
    process.stderr.write(`npm run demo: ${err instanceof Error ? err.message : String(err)}\n`);
    return interrupted.signal.aborted ? 130 : 1;
  }
}

main().then((code) => process.exit(code));
