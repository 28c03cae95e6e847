/**
 * The local target's build runners and the Cloudflare API stand-in: given it, each runner forwards the
 * stand-in's port into its builds (`--cloudflare-api`) and the Worker gets the stand-in's base URL and
 * token secret beside the runners' URLs; without it, neither.
 */
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import type { LocalServicePlan } from "../../components/local-service-types";
import { processAlive, tempDir } from "../../workers-src/builds/runner/testing";
import { type LocalBuildRunners, startLocalBuildRunners } from "./build-runner";

const state = tempDir("local-runners-");
const started: LocalBuildRunners[] = [];

// `stop` loads the sandbox's clean-up by `require`, which only the target's loader resolves: here the
// runners are told to stop (they remove their network filters themselves) and waited for.
afterAll(async () => {
  const pids = started.flatMap((runners) => runners.runners.map((runner) => runner.pid));
  for (const runners of started) runners.signalStop();
  const deadline = Date.now() + 20_000;
  while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  state.remove();
}, 60_000);

const service: LocalServicePlan = {
  scriptName: "builds-management",
  kind: "build-runner",
  urlVar: "RUNNER_URL",
  token: "local-runner-test-token-0123456789",
  maxConcurrent: 2,
  allowFileRepos: true,
};
const cloudflareApi = { url: "http://127.0.0.1:18787/client/v4", tokenSecret: "stand-in-secret" };

describe("startLocalBuildRunners", () => {
  it("points the Worker at the stand-in and starts each runner with --cloudflare-api on its origin", async () => {
    const runners = await startLocalBuildRunners(
      [service],
      { "builds-management": "http://127.0.0.1:1" },
      state.dir,
      () => undefined,
      { cloudflareApi },
    );
    started.push(runners);
    const vars = runners.vars.get("builds-management");
    expect(vars).toEqual({
      RUNNER_URL: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      CLOUDFLARE_API_BASE_URL: "http://127.0.0.1:18787/client/v4",
      CLOUDFLARE_API_TOKEN_SECRET: "stand-in-secret",
    });
    runners.start();
    await runners.ready;
    const [runner] = runners.runners;
    const argv = readFileSync(`/proc/${runner?.pid}/cmdline`, "utf8").split("\0");
    expect(argv.slice(argv.indexOf("--cloudflare-api"), argv.indexOf("--cloudflare-api") + 2)).toEqual([
      "--cloudflare-api",
      "http://127.0.0.1:18787",
    ]);
    expect(await (await fetch(`${runner?.url}/health`)).json()).toMatchObject({ ok: true, isolated: true });
  }, 60_000);

  it("without it, sets no stand-in vars", async () => {
    const runners = await startLocalBuildRunners([service], {}, state.dir, () => undefined);
    started.push(runners);
    expect(Object.keys(runners.vars.get("builds-management") ?? {})).toEqual(["RUNNER_URL"]);
  });

  it("refuses a stand-in that is not on http://127.0.0.1:<port>", async () => {
    await expect(
      startLocalBuildRunners([service], {}, state.dir, () => undefined, {
        cloudflareApi: { url: "http://localhost:8787/client/v4", tokenSecret: "s" },
      }),
    ).rejects.toThrow("the Cloudflare API stand-in must listen on http://127.0.0.1:<port>");
  });
});
