import { parseArgs } from "node:util";
import { exitOnHelp, type Invocation, resolveProgram, resolveStackFile } from "./cli-args";
import { type LocalTarget, startLocalTarget } from "./target/runner";

const NPM: Invocation = { usage: "npm start --", name: "npm start" };

/**
 * Starts the local target for the program (`--program`, else the project whose Pulumi.yaml is in the
 * working directory or above it) and keeps it running until SIGINT or SIGTERM. A wrong input is one line
 * on stderr and exit status 1, with nothing created, locked or started.
 */
export async function startCommand(
  argv: string[],
  invocation: Invocation = NPM,
): Promise<number | "running"> {
  const usage = `usage: ${invocation.usage} [--reset] [--database-url <postgres superuser URL>] [--stack <name>] [--config-file <path>] [--program <entry.ts>] [--state-dir <path>]`;
  exitOnHelp(usage, argv);
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
      args: argv,
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
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 1;
  }
  let target: LocalTarget;
  const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  try {
    const stack = values.stack ?? "local";
    const { root, entry } = resolveProgram(values.program);
    target = await startLocalTarget({
      reset: values.reset,
      databaseUrl: values["database-url"] ?? process.env.LOCAL_DATABASE_URL,
      stack,
      configFile: resolveStackFile(stack, values["config-file"], root),
      entry,
      stateDir: values["state-dir"],
    });
  } catch (err) {
    // Not `instanceof StackConfigError`: importing the config module would load the Pulumi SDK on every
    // start, even when the cached graph makes it unnecessary.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${invocation.name} failed: ${message}\n`);
    return 1;
  }
  // Miniflare's own signal handlers end the process at once (exit 128 + the signal), before an orderly
  // stop could run: the target stops itself instead, and the process's exit hooks (workerd killed,
  // PostgreSQL told to stop, the lock released) stay for an exit that comes any other way.
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.off(signal, listener);
    }
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second signal while stopping: give up on the orderly stop.
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the local target\n`);
    target.stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`stop failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  for (const signal of SIGNALS) process.on(signal, () => shutdown(signal));
  return "running";
}

if (require.main === module)
  startCommand(process.argv.slice(2)).then((code) => {
    if (code !== "running") process.exit(code);
  });
