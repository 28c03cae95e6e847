import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { StartBuildRequest } from "../shared/protocol";
import { type BuildContainer, type BuildContainerHandle, RUNNER_PORT } from "./container";

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
  body: string;
}

/** A stand-in for `ctx.container` whose runner answers like the real one: health, POST and DELETE /builds. */
function fakeContainer(options: { healthyAfter?: number; startStatus?: number } = {}) {
  const seen: Seen[] = [];
  const ports: number[] = [];
  let starts: ContainerStartupOptions[] = [];
  let healthChecks = 0;
  let running = false;
  let destroyed = 0;
  const handle: BuildContainerHandle = {
    get running() {
      return running;
    },
    start(opts?: ContainerStartupOptions) {
      starts = [...starts, opts as ContainerStartupOptions];
      running = true;
    },
    getTcpPort(port: number) {
      ports.push(port);
      return {
        fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
          const request = new Request(input, init);
          seen.push({
            method: request.method,
            url: request.url,
            authorization: request.headers.get("authorization"),
            body: await request.text(),
          });
          if (new URL(request.url).pathname === "/health") {
            healthChecks++;
            return new Response("{}", { status: healthChecks > (options.healthyAfter ?? 0) ? 200 : 503 });
          }
          if (request.method === "POST")
            return new Response('{"accepted":true}', { status: options.startStatus ?? 202 });
          return new Response("{}", { status: 202 });
        },
        connect: () => {
          throw new Error("not used");
        },
      } as unknown as Fetcher;
    },
    async destroy() {
      destroyed++;
      running = false;
    },
  };
  return { handle, seen, ports, starts: () => starts, destroyed: () => destroyed };
}

const request = (uuid: string): StartBuildRequest => ({
  build_uuid: uuid,
  callback_url: "https://build-management.example.net",
  callback_token: "c".repeat(64),
  repo_url: "https://github.com/example/site",
  commit_hash: "a".repeat(40),
  branch: "main",
  root_directory: "",
  build_command: "npm run build",
  deploy_command: "npx wrangler deploy",
  env: { MODE: "production" },
  secret_names: [],
  cache_enabled: true,
  timeout_seconds: 1200,
  heartbeat_seconds: 20,
});

let n = 0;
const stubFor = () =>
  env.BUILD_CONTAINER.get(env.BUILD_CONTAINER.idFromName(`container-${++n}-${Date.now()}`));

describe("BuildContainer: builds on Cloudflare Containers", () => {
  it("starts the runner image with its token, waits for the runner, then hands it the build", async () => {
    const fake = fakeContainer({ healthyAfter: 2 });
    const uuid = "00000000-0000-4000-8000-00000000c001";
    await runInDurableObject(stubFor(), async (instance: BuildContainer, state) => {
      instance.container = fake.handle;
      await instance.startBuild(request(uuid));
      expect(fake.starts()).toEqual([
        { enableInternet: true, env: { RUNNER_TOKEN: env.RUNNER_TOKEN }, labels: { build_uuid: uuid } },
      ]);
      expect(new Set(fake.ports)).toEqual(new Set([RUNNER_PORT]));
      expect(fake.seen.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual([
        "GET /health",
        "GET /health",
        "GET /health",
        "POST /builds",
      ]);
      const post = fake.seen.at(-1) as Seen;
      expect(post.authorization).toBe(`Bearer ${env.RUNNER_TOKEN}`);
      expect(JSON.parse(post.body)).toEqual(request(uuid));
      // The container is destroyed after the build's timeout even if nothing stops it.
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now() + 1_190_000);
    });
  });

  it("a runner that refuses the build fails the start with the runner's answer", async () => {
    const fake = fakeContainer({ startStatus: 503 });
    await runInDurableObject(stubFor(), async (instance: BuildContainer) => {
      instance.container = fake.handle;
      await expect(instance.startBuild(request("00000000-0000-4000-8000-00000000c002"))).rejects.toThrow(
        /refused the build: HTTP 503/,
      );
    });
  });

  it("stops a build with DELETE /builds/:uuid and destroys the container at its alarm", async () => {
    const fake = fakeContainer();
    const uuid = "00000000-0000-4000-8000-00000000c003";
    await runInDurableObject(stubFor(), async (instance: BuildContainer, state) => {
      instance.container = fake.handle;
      await instance.startBuild(request(uuid));
      await instance.stopBuild(uuid);
      const del = fake.seen.at(-1) as Seen;
      expect([del.method, new URL(del.url).pathname, del.authorization]).toEqual([
        "DELETE",
        `/builds/${uuid}`,
        `Bearer ${env.RUNNER_TOKEN}`,
      ]);
      expect(await state.storage.getAlarm()).toBeLessThan(Date.now() + 31_000);
      await instance.alarm();
      expect(fake.destroyed()).toBe(1);
      await instance.alarm();
      expect(fake.destroyed()).toBe(1);
    });
  });

  it("says what to do when the Worker was deployed without a container", async () => {
    await runInDurableObject(stubFor(), async (instance: BuildContainer) => {
      instance.container = undefined;
      await expect(instance.startBuild(request("00000000-0000-4000-8000-00000000c004"))).rejects.toThrow(
        /no container is attached to BuildContainer/,
      );
    });
  });
});
