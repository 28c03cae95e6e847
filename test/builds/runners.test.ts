/**
 * Two runners serve one platform on the local target: builds go to the runner with free capacity, and a
 * runner killed mid-build fails that build (`health_check`), leaves nothing of it running, and is skipped
 * by later builds, which the other runner takes.
 */
import { randomInt } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostProcessesRunning } from "../../workers-src/builds/runner/testing";
import type { RunnerHealth } from "../../workers-src/builds/shared/protocol";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { buildsApi } from "./builds";

let platform: BuildsPlatform;
let repo: GitRepo;

beforeAll(async () => {
  platform = await startBuildsPlatform({
    builds: {
      heartbeatTimeoutSeconds: 3,
      maxConcurrentPerAccount: 10,
      compute: { backend: "http", runnerUrl: "local", localRunners: 2 },
    },
  });
  repo = await platform.gitRepo();
  await repo.commit({ "README.md": "runners\n" }, "first");
}, 120_000);

afterAll(() => platform?.stop(), 60_000);

async function health(url: string): Promise<RunnerHealth | undefined> {
  try {
    return (await (await fetch(`${url}/health`)).json()) as RunnerHealth;
  } catch {
    return undefined;
  }
}

describe("two runners", () => {
  it("both answer their health check, with their capacity", async () => {
    expect(platform.target.runners).toHaveLength(2);
    for (const runner of platform.target.runners) {
      expect(await health(runner.url)).toMatchObject({
        ok: true,
        active: 0,
        draining: false,
        isolated: true,
      });
    }
  });

  it("a runner killed mid-build fails that build (health_check), and later builds go to the other runner", async () => {
    const api = buildsApi(platform.api, await platform.token("runners-account"));
    const sleep = `60.${randomInt(1, 1_000_000_000)}`;
    const { trigger: slow } = await api.workerWithTrigger("slow", {
      repo_url: repo.url,
      build_command: `echo started; sleep ${sleep}`,
    });
    const doomed = await api.startBuild(slow.id);
    await expect.poll(() => api.logSoFar(doomed), { timeout: 30_000, interval: 200 }).toContain("started");
    const busy = [];
    for (const runner of platform.target.runners)
      if ((await health(runner.url))?.active === 1) busy.push(runner);
    expect(busy).toHaveLength(1);
    const [victim] = busy;
    const survivor = platform.target.runners.find((r) => r !== victim)!;

    process.kill(victim!.pid, "SIGKILL");
    const failed = await api.stopped(doomed, 60_000);
    expect(failed).toMatchObject({
      status: "stopped",
      build_outcome: "failed",
      failure_class: "health_check",
    });
    expect(await api.allLogLines(doomed)).toContain(
      "platform: the runner stopped reporting for 3 s; the build failed its health check",
    );
    // The build's sandbox died with its runner.
    expect(hostProcessesRunning(`sleep ${sleep}`)).toEqual([]);

    const { trigger: quick } = await api.workerWithTrigger("quick", {
      repo_url: repo.url,
      build_command: "echo on the survivor",
    });
    const later = await Promise.all([api.startBuild(quick.id), api.startBuild(quick.id)]);
    for (const uuid of later) {
      expect(await api.stopped(uuid, 60_000)).toMatchObject({ build_outcome: "success" });
      expect(await api.allLogLines(uuid)).toContain("on the survivor");
    }
    expect(await health(victim!.url)).toBeUndefined();
    expect(await health(survivor.url)).toMatchObject({ ok: true, active: 0 });
  }, 180_000);
});
