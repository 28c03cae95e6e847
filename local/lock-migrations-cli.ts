import { recordMigrations } from "../components/framework-app";
import { DEMO_APP } from "../components/framework-demo";
import { exitOnHelp } from "./cli-args";

// Records in the app's lock file the Durable Object migration step its declaration now asks for.
// The file only grows: a recorded step is never rewritten. Commit it with the declaration change.
exitOnHelp(
  "usage: npm run lock:migrations   (appends the step the demo app's declaration asks for to its lock file)",
);
try {
  const added = recordMigrations(DEMO_APP.lockFile, DEMO_APP.declaration);
  process.stdout.write(
    added
      ? `recorded ${JSON.stringify(added)} in ${DEMO_APP.lockFile}\n`
      : "the lock file already records every step\n",
  );
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
}
