#!/usr/bin/env node
import { PACKAGE_NAME } from "../components/package-root";
import type { Invocation } from "./cli-args";
import type * as DiffCli from "./diff-cli";
import type * as PlanCli from "./plan-cli";
import type * as StartCli from "./start-cli";
import type * as SynthCli from "./synth-cli";

// TypeScript programs load through the package's loader (which also keeps V8's compiled code of the SDK).
if (!require.extensions[".ts"]) require("./register.cjs");

/**
 * The package's command, `workers-platform <command>`, for any Pulumi program made of the package's
 * components or plain `@pulumi/cloudflare` resources. Each command is the one this repository runs as an
 * `npm run` script (same JSON, endpoints file, errors and exit statuses); only its name differs.
 */
const COMMANDS = {
  synth: "print the program's resource graph for a stack as JSON",
  start: "run the program's Workers on workerd (and PostgreSQL when it has any) on this machine",
  plan: "print what start would run for a stack, as JSON",
  diff: "compare the stack's resource graph at a git ref with the working tree's, risks first",
} as const;
type Command = keyof typeof COMMANDS;

const USAGE = [
  `usage: ${PACKAGE_NAME} <command> [options]   (${PACKAGE_NAME} <command> --help for its options)`,
  ...Object.entries(COMMANDS).map(([name, what]) => `  ${name.padEnd(6)} ${what}`),
].join("\n");

const isCommand = (name: string): name is Command => Object.hasOwn(COMMANDS, name);

/** Runs one command; a number is the exit status, `"running"` means a target now runs until a signal. */
export async function run(argv: string[]): Promise<number | "running"> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    return 1;
  }
  if (command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!isCommand(command)) {
    process.stderr.write(
      `${PACKAGE_NAME}: unknown command "${command}" (commands: ${Object.keys(COMMANDS).join(", ")})\n`,
    );
    return 1;
  }
  const invocation: Invocation = { usage: `${PACKAGE_NAME} ${command}`, name: `${PACKAGE_NAME} ${command}` };
  // Each command's module is loaded only when it runs (`require`, as compiled CommonJS and the loader do).
  switch (command) {
    case "synth":
      return (require("./synth-cli") as typeof SynthCli).synthCommand(rest, invocation);
    case "plan":
      return (require("./plan-cli") as typeof PlanCli).planCommand(rest, invocation);
    case "start":
      return (require("./start-cli") as typeof StartCli).startCommand(rest, invocation);
    case "diff":
      return (require("./diff-cli") as typeof DiffCli).diffCommand(rest, invocation);
  }
}

if (require.main === module)
  run(process.argv.slice(2)).then((code) => {
    if (code !== "running") process.exit(code);
  });
