import { parseArgs } from "node:util";
import { exitOnHelp, type Invocation, resolveProgram, resolveStackFile } from "./cli-args";
import { synth } from "./synth";

const NPM: Invocation = { usage: "npm run synth --", name: "synth" };

/**
 * Prints the program's resource graph for a stack as JSON. The program is `--program`, else the project
 * whose Pulumi.yaml is in the working directory or above it. Every error is one line on stderr and exit
 * status 1, before anything is evaluated when the input itself is wrong.
 */
export async function synthCommand(argv: string[], invocation: Invocation = NPM): Promise<number> {
  const usage = `usage: ${invocation.usage} --stack <name> [--config-file <path>] [--program <entry.ts>] [--live-tags <path>]`;
  exitOnHelp(usage, argv);
  let values: { stack?: string; "config-file"?: string; "live-tags"?: string; program?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: "string" },
        "config-file": { type: "string" },
        "live-tags": { type: "string" },
        program: { type: "string" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 1;
  }
  if (!values.stack) {
    process.stderr.write(`--stack is required\n${usage}\n`);
    return 1;
  }
  let file: string;
  let entry: string;
  try {
    const program = resolveProgram(values.program);
    entry = program.entry;
    file = resolveStackFile(values.stack, values["config-file"], program.root);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  try {
    const graph = await synth({
      stack: values.stack,
      configFile: file,
      entry,
      liveTagsFile: values["live-tags"],
    });
    process.stdout.write(`${JSON.stringify(graph, null, 2)}\n`);
    return 0;
  } catch (err) {
    // A program's own config error (its class named so, or Pulumi's for a missing key) is about the file.
    if (err instanceof Error && /ConfigError$|^ConfigMissingError$/.test(err.name)) {
      process.stderr.write(`${file}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`${invocation.name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) synthCommand(process.argv.slice(2)).then((code) => process.exit(code));
