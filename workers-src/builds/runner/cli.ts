/**
 * The build runner as a standalone service:
 *
 *   RUNNER_TOKEN=... node -r ./local/register.cjs workers-src/builds/runner/cli.ts --port 8791 [options]
 *
 * Runs as root: each build gets its own namespaces, unprivileged uid, cgroup, disk and network (see
 * `sandbox/`). A host that cannot isolate builds makes the runner refuse to start, unless it is given
 * --insecure-no-sandbox (only for a host that runs a single tenant's builds).
 */
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_LIMITS,
  loopbackPort,
  openSandbox,
  type Sandbox,
  SandboxUnavailable,
  unisolatedSandbox,
} from "./sandbox";
import { startRunnerServer } from "./server";

const USAGE = `usage: RUNNER_TOKEN=<token> runner [options]

  --port N                 port to listen on (default 8791; 0 picks one)
  --host ADDRESS           address to listen on (default 127.0.0.1)
  --callback-url URL       the Build Management Worker's URL, for builds whose request names none
  --work-root DIR          where builds' workspaces are made (default <tmp>/workers-builds-runner)
  --max-concurrent N       builds run at once (default 4); more are answered 503
  --drain-seconds N        on SIGTERM, how long running builds get to finish (default 600)
  --allow-file-repos       allow file:/// repositories (the local stack only)
  --cloudflare-api URL     http://127.0.0.1:PORT: the local Cloudflare API stand-in; every sandboxed build
                           reaches that one port of the host's loopback at the same address (the local
                           stack only)
  --memory-mb N            memory per build (default ${DEFAULT_LIMITS.memoryMb})
  --pids N                 processes and threads per build (default ${DEFAULT_LIMITS.pids})
  --cpus N                 CPU cores per build (default ${DEFAULT_LIMITS.cpus})
  --cpu-seconds N          CPU time per build (default ${DEFAULT_LIMITS.cpuSeconds})
  --disk-mb N              workspace size per build (default ${DEFAULT_LIMITS.diskMb})
  --uid-base N             first uid given to builds (default 200000); runners sharing a host need
                           ranges of their own
  --uid-count N            how many uids from --uid-base (default 1000; more than --max-concurrent): the
                           first runs the builds' network, builds get the others
  --allow-network CIDR     a private network builds may reach (repeatable); the host's own addresses,
                           loopback, link-local (cloud metadata) and the other private ranges are refused
  --insecure-no-sandbox    run builds as the runner's own user with no isolation: only for a host that
                           runs one tenant's builds
  -h, --help               this text

Exit codes: 0 stopped cleanly, 1 error, 2 the host cannot isolate builds (see the message).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8791" },
      host: { type: "string", default: "127.0.0.1" },
      "callback-url": { type: "string" },
      "allow-file-repos": { type: "boolean", default: false },
      "cloudflare-api": { type: "string" },
      "work-root": { type: "string" },
      "max-concurrent": { type: "string" },
      "drain-seconds": { type: "string", default: "600" },
      "memory-mb": { type: "string" },
      pids: { type: "string" },
      cpus: { type: "string" },
      "cpu-seconds": { type: "string" },
      "disk-mb": { type: "string" },
      "uid-base": { type: "string" },
      "uid-count": { type: "string" },
      "allow-network": { type: "string", multiple: true },
      "insecure-no-sandbox": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const token = process.env.RUNNER_TOKEN;
  if (!token)
    throw new Error("runner: set RUNNER_TOKEN to the bearer token the Build Management Worker sends");
  const port = parseInteger("--port", values.port, 0, 65535);
  const maxConcurrent =
    values["max-concurrent"] === undefined
      ? undefined
      : parseInteger("--max-concurrent", values["max-concurrent"], 1, 1000);
  const drainMs = parseInteger("--drain-seconds", values["drain-seconds"], 0, 86_400) * 1000;
  const workRoot = values["work-root"] ?? path.join(tmpdir(), "workers-builds-runner");
  const cloudflareApi = values["cloudflare-api"];
  if (cloudflareApi !== undefined) {
    try {
      loopbackPort(cloudflareApi);
    } catch (error) {
      throw new Error(`runner: --cloudflare-api: ${(error as Error).message}`);
    }
  }

  // A signal while the runner starts (the local target stopped soon after it started it) is answered once
  // the sandbox is open: opening it installs the builds' network filter, which must go with the runner.
  let signalledWhileStarting: NodeJS.Signals | undefined;
  const whileStarting = (signal: NodeJS.Signals) => {
    signalledWhileStarting ??= signal;
  };
  process.on("SIGINT", whileStarting);
  process.on("SIGTERM", whileStarting);

  let sandbox: Sandbox;
  if (values["insecure-no-sandbox"]) {
    sandbox = unisolatedSandbox(workRoot);
  } else {
    const limits = Object.fromEntries(
      Object.entries({
        memoryMb: values["memory-mb"],
        pids: values.pids,
        cpus: values.cpus,
        cpuSeconds: values["cpu-seconds"],
        diskMb: values["disk-mb"],
      })
        .filter(([, text]) => text !== undefined)
        .map(([key, text]) => [key, Number(text)]),
    );
    try {
      sandbox = await openSandbox({
        workRoot,
        limits,
        uidBase:
          values["uid-base"] === undefined
            ? undefined
            : parseInteger("--uid-base", values["uid-base"], 1000, 2 ** 31 - 1_000_000),
        uidCount:
          values["uid-count"] === undefined
            ? undefined
            : parseInteger("--uid-count", values["uid-count"], (maxConcurrent ?? 4) + 1, 1_000_000),
        allowNetworks: (values["allow-network"] ?? []).map(parseCidr),
      });
    } catch (error) {
      if (error instanceof SandboxUnavailable) {
        console.error(`runner: ${error.message}`);
        process.exit(2);
      }
      throw error;
    }
  }
  // Whichever way the runner exits (but SIGKILL), its network filter goes with it.
  process.once("exit", () => sandbox.closeSync());
  if (signalledWhileStarting) {
    console.log(`runner: ${signalledWhileStarting} while starting; stopped`);
    process.exit(0);
  }
  if (sandbox.isolated) console.log(`runner: builds ${sandbox.description}`);
  else console.error(`runner: WARNING: builds are ${sandbox.description}`);

  const server = await startRunnerServer({
    host: values.host,
    port,
    token,
    callbackUrl: values["callback-url"],
    allowFileRepos: values["allow-file-repos"],
    cloudflareApi,
    sandbox,
    maxConcurrent,
  });
  console.log(`runner listening on ${server.url}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const running = server.activeBuilds().length;
    console.log(
      `runner: ${signal}, taking no new builds; ${running} running build(s) get ${drainMs / 1000} s to finish`,
    );
    // Past the drain, builds are stopped and their last reports get a little time, not longer: a runner
    // whose API is already gone must not linger retrying callbacks.
    setTimeout(() => {
      console.error("runner: builds did not report in time; exiting");
      process.exit(1);
    }, drainMs + 15_000).unref();
    server.close({ drainMs }).then(
      () => process.exit(0),
      (error) => {
        console.error(`runner: error while stopping: ${error}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.off("SIGINT", whileStarting);
  process.off("SIGTERM", whileStarting);
  if (signalledWhileStarting) stop(signalledWhileStarting);
}

function parseCidr(text: string): string {
  const match = /^([0-9.]+|[0-9a-fA-F:]+)\/(\d{1,3})$/.exec(text);
  if (!match || Number(match[2]) > (match[1]?.includes(":") ? 128 : 32)) {
    throw new Error(`runner: --allow-network must be a network such as 10.1.0.0/16 (got ${text})`);
  }
  return text;
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
