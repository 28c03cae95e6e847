import path from "node:path";
import { parseArgs } from "node:util";
import type { FrameworkAppSource } from "../components/framework-app";
import { recordMigrations } from "../components/framework-app";
import { exitOnHelp } from "./cli-args";

// Records in a framework app's lock file the Durable Object migration step its declaration now asks for.
// The file only grows: a recorded step is never rewritten. Commit it with the declaration change.
const USAGE =
  "usage: npm run lock:migrations -- --app <module.ts>[#<export>]   (appends the step the app's declaration asks for to its lock file; the export is a FrameworkAppSource, FRAMEWORK_APP unless named)";
exitOnHelp(USAGE);
try {
  const { values } = parseArgs({ options: { app: { type: "string" } } });
  if (!values.app) throw new Error(`--app is required\n${USAGE}`);
  const [file, name = "FRAMEWORK_APP"] = values.app.split("#") as [string, string?];
  const app = (require(path.resolve(file)) as Record<string, FrameworkAppSource | undefined>)[name];
  if (!app?.lockFile || !app.declaration) {
    throw new Error(
      `${file} exports no framework app named ${name} (an object with declaration and lockFile)`,
    );
  }
  const added = recordMigrations(app.lockFile, app.declaration);
  process.stdout.write(
    added
      ? `recorded ${JSON.stringify(added)} in ${app.lockFile}\n`
      : "the lock file already records every step\n",
  );
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
