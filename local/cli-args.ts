import { existsSync } from "node:fs";
import path from "node:path";

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
