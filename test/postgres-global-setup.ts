import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../local/postgres-server";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the PostgreSQL server the node tests run against. */
    postgresUrl: string;
  }
}

/**
 * One real PostgreSQL for the node test project: `TEST_DATABASE_URL` when given, otherwise an
 * embedded server in a temporary folder that is removed afterwards.
 */
export default async function setup(project: TestProject) {
  const external = process.env.TEST_DATABASE_URL;
  if (external) {
    project.provide("postgresUrl", external);
    return;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "wp-test-pg-"));
  // As root the server runs as a separate system user, which must be able to enter the folder.
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), ephemeral: true });
  project.provide("postgresUrl", server.url);
  // A run that is interrupted (Ctrl-C, a timeout's SIGTERM) skips the teardown below: the server is told
  // to shut down anyway, then the signal takes its usual course.
  const onSignal = (signal: NodeJS.Signals) => {
    server.signalStop();
    process.kill(process.pid, signal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return async () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
