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
