import type { StartBuildRequest } from "../shared/protocol";
import { ContainerBackend } from "./container";
import type { ManagementEnv } from "./env";

/** Where builds run. Each backend starts and stops one build; the build reports back on its own. */
export interface ComputeBackend {
  startBuild(request: StartBuildRequest): Promise<void>;
  /** Stops a build's processes; stopping one that is not running is not an error. */
  stopBuild(buildUuid: string): Promise<void>;
  /** The build ended on its own: whatever it held (a container) can go. */
  releaseBuild?(buildUuid: string): Promise<void>;
}

export class ComputeError extends Error {
  override name = "ComputeError";
  /** The backend is busy or unreachable for now: the start may be tried again. */
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** The HTTP runner service (`workers-src/builds/runner`), reached with a shared bearer token. */
export class HttpRunnerBackend implements ComputeBackend {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  async startBuild(request: StartBuildRequest): Promise<void> {
    const res = await this.call("POST", "/builds", JSON.stringify(request));
    if (res.status !== 202) {
      const text = await res.text();
      throw new ComputeError(`runner refused the build: HTTP ${res.status} ${text}`, res.status === 503);
    }
  }

  async stopBuild(buildUuid: string): Promise<void> {
    const res = await this.call("DELETE", `/builds/${encodeURIComponent(buildUuid)}`);
    await res.body?.cancel();
    if (res.status !== 202 && res.status !== 404)
      throw new ComputeError(`runner did not stop the build: HTTP ${res.status}`);
  }

  private async call(method: string, path: string, body?: string): Promise<Response> {
    const url = new URL(`${this.baseUrl.replace(/\/+$/, "")}${path}`);
    try {
      return await this.fetcher(url.toString(), {
        method,
        body,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
      });
    } catch (err) {
      throw new ComputeError(`runner at ${url.origin} unreachable: ${(err as Error).message}`, true);
    }
  }
}

/** The backend the stack config chose (`builds.compute.backend`). */
export function computeBackend(env: ManagementEnv): ComputeBackend {
  if (env.COMPUTE_BACKEND === "container") return new ContainerBackend(env.BUILD_CONTAINER);
  if (env.COMPUTE_BACKEND !== "http")
    throw new ComputeError(`unknown compute backend "${env.COMPUTE_BACKEND}"`);
  if (!/^https?:\/\//.test(env.RUNNER_URL)) {
    throw new ComputeError(`RUNNER_URL "${env.RUNNER_URL}" is not a URL: is the build runner started?`);
  }
  return new HttpRunnerBackend(env.RUNNER_URL, env.RUNNER_TOKEN);
}
