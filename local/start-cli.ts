import { parseArgs } from "node:util";
import { exitOnHelp } from "./cli-args";
import { startLocalTarget } from "./target/runner";

const USAGE =
  "usage: npm start -- [--reset] [--database-url <postgres superuser URL>] [--stack <name>] [--config-file <path>] [--program <entry.ts>] [--state-dir <path>]";

async function main(): Promise<void> {
  exitOnHelp(USAGE);
  let values: {
    reset?: boolean;
    "database-url"?: string;
    stack?: string;
    "config-file"?: string;
    program?: string;
    "state-dir"?: string;
  };
  try {
    ({ values } = parseArgs({
      options: {
        reset: { type: "boolean" },
        "database-url": { type: "string" },
        stack: { type: "string" },
        "config-file": { type: "string" },
        program: { type: "string" },
        "state-dir": { type: "string" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  let target: Awaited<ReturnType<typeof startLocalTarget>>;
  try {
    target = await startLocalTarget({
      reset: values.reset,
      databaseUrl: values["database-url"] ?? process.env.LOCAL_DATABASE_URL,
      stack: values.stack,
      configFile: values["config-file"],
      entry: values.program,
      stateDir: values["state-dir"],
    });
  } catch (err) {
    // Not `instanceof StackConfigError`: importing the config module would load the Pulumi SDK on every
    // start, even when the cached graph makes it unnecessary.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`npm start failed: ${message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping workerd and PostgreSQL\n`);
    target.stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main();
