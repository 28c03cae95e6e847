import { existsSync } from "node:fs";
import path from "node:path";
import { projectEntry, projectRoot, stackFilePath } from "./stack-file";

/**
 * `--help` (or `-h`) among a CLI's arguments: its usage line on stdout, exit status 0, nothing else done.
 * Called first thing in each of the project's CLIs.
 */
export function exitOnHelp(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
  const end = argv.indexOf("--");
  const options = end === -1 ? argv : argv.slice(0, end);
  if (options.includes("--help") || options.includes("-h")) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
}

/**
 * The absolute path of a program's entry module (`--program`), or an error that names the missing file,
 * as given and as resolved, before anything reads or creates anything.
 */
export function programEntryPath(entry: string): string {
  const file = path.resolve(entry);
  if (!existsSync(file)) {
    throw new Error(`the program's entry module ${entry} does not exist (no file at ${file})`);
  }
  return file;
}

/** How a command was called: what its usage line and its error lines start with. */
export interface Invocation {
  /** e.g. `npm run synth --` or `workers-platform synth`. */
  usage: string;
  /** e.g. `npm start` or `workers-platform start`: error lines read `<name> failed: …`. */
  name: string;
}

/**
 * The program a command works on: `--program <entry>` and the project around it, or the project whose
 * `Pulumi.yaml` is in the working directory or a folder above it, and that project's entry module.
 */
export function resolveProgram(
  program: string | undefined,
  cwd: string = process.cwd(),
): { root: string; entry: string } {
  if (program !== undefined) {
    const entry = programEntryPath(program);
    return { root: projectRoot(path.dirname(entry)), entry };
  }
  let root: string;
  try {
    root = projectRoot(cwd);
  } catch {
    throw new Error(
      `no Pulumi.yaml in ${cwd} or any folder above it: run this in a Pulumi project, or pass --program <entry>`,
    );
  }
  return { root, entry: projectEntry(root) };
}

/** The stack file a command reads: `--config-file`, else `Pulumi.<stack>.yaml` in the project; it must exist. */
export function resolveStackFile(stack: string, configFile: string | undefined, root: string): string {
  const file = configFile ?? stackFilePath(stack, root);
  if (!existsSync(file)) {
    throw new Error(
      configFile === undefined
        ? `no config for stack "${stack}": ${file} does not exist`
        : `the stack config file ${configFile} does not exist`,
    );
  }
  return file;
}
