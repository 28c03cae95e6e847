import { DurableObject } from "cloudflare:workers";
import type { StartBuildRequest } from "../shared/protocol";
import { type ComputeBackend, ComputeError } from "./compute";
import type { ManagementEnv } from "./env";

/** Port the runner image listens on (`runner/cli.ts --port`). */
export const RUNNER_PORT = 8080;
const READY_TIMEOUT_MS = 60_000;
/** After a build is stopped, its container is destroyed this much later (the runner reports first). */
const DESTROY_GRACE_MS = 30_000;

/**
 * The part of Cloudflare Containers' `ctx.container` this backend uses: start the runner image with its
 * environment, reach its port, destroy it.
 */
export type BuildContainerHandle = Pick<Container, "running" | "start" | "getTcpPort" | "destroy">;

/**
 * One per build: a Durable Object with a container attached that runs the build runner image. It starts
 * the container with the runner's token, waits until the runner answers on its port, and hands it the
 * build over the same HTTP contract as the HTTP runner service. The container is destroyed once the build
 * is stopped, or when nothing stops it, by this object's alarm after the build's timeout.
 */
export class BuildContainer extends DurableObject<ManagementEnv> {
  /** Tests give a stand-in; in the cloud it is the attached container. */
  container: BuildContainerHandle | undefined;

  constructor(ctx: DurableObjectState, env: ManagementEnv) {
    super(ctx, env);
    this.container = ctx.container;
  }

  private handle(): BuildContainerHandle {
    if (!this.container) {
      throw new ComputeError(
        "no container is attached to BuildContainer: deploy the Worker with its container image",
      );
    }
    return this.container;
  }

  private async runnerFetch(path: string, init: RequestInit): Promise<Response> {
    return this.handle()
      .getTcpPort(RUNNER_PORT)
      .fetch(`http://runner${path}`, {
        ...init,
        headers: { authorization: `Bearer ${this.env.RUNNER_TOKEN}`, "content-type": "application/json" },
      });
  }

  async startBuild(request: StartBuildRequest): Promise<void> {
    const container = this.handle();
    if (!container.running) {
      container.start({
        enableInternet: true,
        env: { RUNNER_TOKEN: this.env.RUNNER_TOKEN },
        labels: { build_uuid: request.build_uuid },
      });
    }
    await this.waitForRunner();
    const res = await this.runnerFetch("/builds", { method: "POST", body: JSON.stringify(request) });
    const text = await res.text();
    if (res.status !== 202)
      throw new ComputeError(`runner container refused the build: HTTP ${res.status} ${text}`);
    await this.ctx.storage.setAlarm(Date.now() + request.timeout_seconds * 1000 + DESTROY_GRACE_MS);
  }

  private async waitForRunner(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const res = await this.runnerFetch("/health", { method: "GET" });
        await res.body?.cancel();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new ComputeError(`runner container did not answer within ${READY_TIMEOUT_MS / 1000} s (${last})`);
  }

  async stopBuild(buildUuid: string): Promise<void> {
    const container = this.handle();
    if (!container.running) return;
    try {
      const res = await this.runnerFetch(`/builds/${encodeURIComponent(buildUuid)}`, { method: "DELETE" });
      await res.body?.cancel();
    } catch {
      // The container is destroyed below whatever the runner answered.
    }
    await this.ctx.storage.setAlarm(Date.now() + DESTROY_GRACE_MS);
  }

  /** The build ended: the container is destroyed once the runner had time to send its last report. */
  async release(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + DESTROY_GRACE_MS);
  }

  override async alarm(): Promise<void> {
    if (this.container?.running) await this.container.destroy();
  }
}

/** Builds in containers: one `BuildContainer` Durable Object (and container) per build. */
export class ContainerBackend implements ComputeBackend {
  constructor(private readonly namespace: DurableObjectNamespace<BuildContainer>) {}

  private stub(buildUuid: string) {
    return this.namespace.get(this.namespace.idFromName(buildUuid));
  }

  async startBuild(request: StartBuildRequest): Promise<{ runner?: string }> {
    await this.stub(request.build_uuid).startBuild(request);
    return {};
  }

  async stopBuild(buildUuid: string): Promise<void> {
    await this.stub(buildUuid).stopBuild(buildUuid);
  }

  async releaseBuild(buildUuid: string): Promise<void> {
    await this.stub(buildUuid).release();
  }
}
