/**
 * The build runner as a standalone service:
 *
 *   RUNNER_TOKEN=... node -r ./local/register.cjs workers-src/builds/runner/cli.ts --port 8791 \
 *     [--host 127.0.0.1] [--callback-url URL] [--allow-file-repos] [--work-root DIR] [--max-concurrent N]
 */
import { parseArgs } from "node:util";
import { startRunnerServer } from "./server";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8791" },
      host: { type: "string", default: "127.0.0.1" },
      "callback-url": { type: "string" },
      "allow-file-repos": { type: "boolean", default: false },
      "work-root": { type: "string" },
      "max-concurrent": { type: "string" },
    },
    strict: true,
  });
  const token = process.env.RUNNER_TOKEN;
  if (!token)
    throw new Error("runner: set RUNNER_TOKEN to the bearer token the Build Management Worker sends");
  const port = parseInteger("--port", values.port, 0, 65535);
  const maxConcurrent =
    values["max-concurrent"] === undefined
      ? undefined
      : parseInteger("--max-concurrent", values["max-concurrent"], 1, 1000);

  const server = await startRunnerServer({
    host: values.host,
    port,
    token,
    callbackUrl: values["callback-url"],
    allowFileRepos: values["allow-file-repos"],
    workRoot: values["work-root"],
    maxConcurrent,
  });
  console.log(`runner listening on ${server.url}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(
      `runner: ${signal}, cancelling ${server.activeBuilds().length} running build(s) and stopping`,
    );
    // Builds are killed at once; their last reports get a few seconds, not longer: a runner whose API
    // is already gone (its target stopped) must not linger retrying callbacks.
    setTimeout(() => {
      console.error("runner: builds did not report in time; exiting");
      process.exit(1);
    }, 5_000).unref();
    server.close().then(
      () => process.exit(0),
      (error) => {
        console.error(`runner: error while stopping: ${error}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

function parseInteger(flag: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`runner: ${flag} must be an integer between ${min} and ${max} (got ${text})`);
  }
  return value;
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
