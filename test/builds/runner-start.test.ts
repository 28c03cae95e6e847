/**
 * The local target reports ready before its build runner has started (nothing needs the runner until a
 * build is admitted). A build admitted while the runner is not listening yet waits for it, and runs once it
 * listens, instead of failing.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { buildsApi } from "./builds";

let platform: BuildsPlatform;
let repo: GitRepo;
let held: number | undefined;

/** Whether something accepts TCP connections on `url`'s port. */
function listening(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(url).port), "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

beforeAll(async () => {
  // The runner starts once workerd is up: it is held where it is (SIGSTOP) as soon as it is spawned, before
  // it can listen.
  platform = await startBuildsPlatform({
    runnersStarting: true,
    log: (line) => {
      const pid = /^build runner for .* starting on .* \(pid (\d+)\)$/.exec(line)?.[1];
      if (pid === undefined) return;
      held = Number(pid);
      process.kill(held, "SIGSTOP");
    },
  });
  if (held === undefined) throw new Error("the local target started no build runner");
  repo = await platform.gitRepo();
  await repo.commit({ "README.md": "early\n" }, "first");
}, 120_000);

afterAll(async () => {
  if (held !== undefined) process.kill(held, "SIGCONT");
  await platform?.stop();
}, 60_000);

describe("a build admitted before its runner listens", () => {
  it("waits for the runner (the platform says so in its log) and succeeds once the runner is up", async () => {
    const runner = platform.target.runners[0]!;
    expect(runner.pid).toBe(held);
    expect(await listening(runner.url)).toBe(false);
    const api = buildsApi(platform.api, await platform.token("early-account"));
    const { trigger } = await api.workerWithTrigger("early", {
      repo_url: repo.url,
      build_command: "echo built early",
    });
    const uuid = await api.startBuild(trigger.id);
    await expect
      .poll(() => api.logSoFar(uuid), { timeout: 30_000, interval: 200 })
      .toContainEqual(expect.stringMatching(/^platform: waiting for a runner \(.*unreachable/));
    // Several retries go by (one every 2 s) without failing the build.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await api.waitForBuild(uuid, () => true)).toMatchObject({ status: "initializing" });

    process.kill(runner.pid, "SIGCONT");
    held = undefined;
    await platform.target.runnersReady;
    expect(await api.stopped(uuid, 60_000)).toMatchObject({ status: "stopped", build_outcome: "success" });
    expect(await api.allLogLines(uuid)).toContain("built early");
  }, 120_000);
});
