import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { exitOnHelp, programEntryPath } from "./cli-args";
import { projectRoot, stackFilePath } from "./stack-file";
import { synth } from "./synth";

const USAGE =
  "usage: npm run synth -- --stack <name> [--config-file <path>] [--program <entry.ts>] [--live-tags <path>]";

async function main(): Promise<number> {
  exitOnHelp(USAGE);
  let values: { stack?: string; "config-file"?: string; "live-tags"?: string; program?: string };
  try {
    ({ values } = parseArgs({
      options: {
        stack: { type: "string" },
        "config-file": { type: "string" },
        "live-tags": { type: "string" },
        program: { type: "string" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!values.stack) {
    process.stderr.write(`--stack is required\n${USAGE}\n`);
    return 2;
  }
  let file: string;
  try {
    // A program given by path has its stack files in its own project, beside or above its entry.
    const root = values.program ? projectRoot(path.dirname(programEntryPath(values.program))) : undefined;
    file = values["config-file"] ?? stackFilePath(values.stack, root);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (!existsSync(file)) {
    process.stderr.write(`no config for stack "${values.stack}": ${file} does not exist\n`);
    return 2;
  }
  try {
    const graph = await synth({
      stack: values.stack,
      configFile: file,
      entry: values.program,
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
    process.stderr.write(`synth failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code));
