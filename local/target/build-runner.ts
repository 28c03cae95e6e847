import path from "node:path";
import { type RunnerServer, startRunnerServer } from "../../workers-src/builds/runner/server";
import type { LocalPlan } from "./miniflare-plan";

/** The value of a Worker's `RUNNER_URL` var that asks the local target for a build runner. */
export const LOCAL_RUNNER = "local";

export interface LocalBuildRunners {
  runners: { scriptName: string; url: string }[];
  /** Tells each runner where its Worker's callback API listens, once workerd serves it. */
  attach(workers: Record<string, string>): void;
  stop(): Promise<void>;
}

/**
 * Starts a build runner for every Worker of the plan whose `RUNNER_URL` var is `local` (the builds
 * platform's Build Management Worker on the local stack), and points that var at it. The runner takes the
 * Worker's own `RUNNER_TOKEN`, allows `file://` repositories when the Worker's `ALLOW_FILE_REPOS` says so,
 * and calls back the Worker's own port unless the Worker names a `CALLBACK_URL`.
 */
export async function startLocalBuildRunners(
  plan: LocalPlan,
  stateDir: string,
  log: (line: string) => void,
): Promise<LocalBuildRunners> {
  const started: { scriptName: string; server: RunnerServer; callbackFixed: boolean }[] = [];
  try {
    for (const worker of plan.workers) {
      if (worker.bindings.RUNNER_URL !== LOCAL_RUNNER) continue;
      const token = worker.bindings.RUNNER_TOKEN;
      if (!token)
        throw new Error(`Worker ${worker.name} asks for a local build runner but has no RUNNER_TOKEN`);
      const server = await startRunnerServer({
        token,
        allowFileRepos: worker.bindings.ALLOW_FILE_REPOS === "true",
        callbackUrl: worker.bindings.CALLBACK_URL,
        workRoot: path.join(stateDir, "runner", worker.name),
        maxConcurrent: Number(worker.bindings.MAX_CONCURRENT_BUILDS_GLOBAL) || 8,
        onError: (message) => log(`build runner: ${message}`),
      });
      worker.bindings.RUNNER_URL = server.url;
      started.push({ scriptName: worker.name, server, callbackFixed: !!worker.bindings.CALLBACK_URL });
      log(`build runner for ${worker.name} on ${server.url}`);
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.server.close()));
    throw err;
  }
  return {
    runners: started.map((s) => ({ scriptName: s.scriptName, url: s.server.url })),
    attach(workers) {
      for (const s of started) {
        const url = workers[s.scriptName];
        if (!s.callbackFixed && url) s.server.setCallbackUrl(url);
      }
    },
    async stop() {
      await Promise.all(started.map((s) => s.server.close()));
    },
  };
}
