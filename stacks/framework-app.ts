import path from "node:path";
import type { FrameworkAppSource } from "../components/framework-app";
import { frameworkApp } from "../workers-src/demo/app";

const APP_DIR = path.join(__dirname, "..", "workers-src", "demo");

/**
 * The repository's framework app (workers-src/demo: documents in KV, chat rooms, a rate limiter, sessions
 * and statistics by cron, on the Workers framework), as stacks/program.ts deploys it with the FrameworkApp
 * component. Not to be confused with the builds platform's walk-through (`npm run demo`, local/demo.ts).
 */
export const FRAMEWORK_APP: FrameworkAppSource = {
  entry: path.join(APP_DIR, "index.ts"),
  declaration: frameworkApp,
  lockFile: path.join(APP_DIR, "migrations.lock.json"),
};
