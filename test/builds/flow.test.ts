/**
 * The builds platform end to end on the local target: a push to a real git repository becomes a build that
 * the scheduler admits, a BuildBuddy starts on the runner, which clones, builds and deploys with real git
 * and real processes, streams its logs back and records its outcome in PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { type Build, buildsApi } from "./builds";
import { client, githubPush, githubSignature } from "./http";

let platform: BuildsPlatform;
let api: ReturnType<typeof client>["call"];
let token: string;
let repo: GitRepo;

beforeAll(async () => {
  platform = await startBuildsPlatform({
    builds: { startTimeoutSeconds: 10, heartbeatTimeoutSeconds: 5, maxConcurrentPerAccount: 20 },
  });
  api = client(platform.api).call;
  token = await platform.token("flow-account");
  builds = buildsApi(platform.api, token);
  repo = await platform.gitRepo();
}, 120_000);

afterAll(() => platform?.stop(), 60_000);

let builds: ReturnType<typeof buildsApi>;
const workerWithTrigger = (trigger: Record<string, unknown>) =>
  builds.workerWithTrigger("flow", { repo_url: repo.url, ...trigger });
const startBuild = (triggerId: string, body?: Record<string, unknown>) => builds.startBuild(triggerId, body);
const waitForBuild = (uuid: string, until: (b: Build) => boolean, timeoutMs?: number) =>
  builds.waitForBuild(uuid, until, timeoutMs);
const stopped = (uuid: string, timeoutMs?: number) => builds.stopped(uuid, timeoutMs);
const allLogLines = (uuid: string) => builds.allLogLines(uuid);

describe("a push becomes a build", () => {
  it("clones the pushed commit, builds with the CI variables and masked secrets, deploys, and succeeds", async () => {
    const { trigger } = await workerWithTrigger({
      build_command:
        'echo "ci=$CI workers_ci=$WORKERS_CI sha=$WORKERS_CI_COMMIT_SHA branch=$WORKERS_CI_BRANCH uuid=$WORKERS_CI_BUILD_UUID"; cat app.txt; echo "token is $API_KEY"; echo "mode=$MODE"',
      env_vars: [
        { name: "API_KEY", value: "s3cr3t-value-42", type: "secret" },
        { name: "MODE", value: "production", type: "text" },
      ],
    });
    const sha = await repo.commit({ "app.txt": "version 1\n" }, "first version");
    const body = githubPush({ repoUrl: repo.url, sha, message: "first version", files: ["app.txt"] });
    const hook = await api<{ builds: { build_uuid: string }[] }>("POST", "/webhooks/github", {
      body,
      headers: {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": githubSignature(trigger.webhook_secret, body),
      },
    });
    expect(hook.status, hook.text).toBe(202);
    const uuid = hook.json.result.builds[0]?.build_uuid as string;
    const build = await stopped(uuid);
    expect(build).toMatchObject({
      status: "stopped",
      build_outcome: "success",
      failure_class: null,
      commit_hash: sha,
    });
    const times = [build.initializing_at, build.running_at, build.stopped_at].map((t) =>
      Date.parse(t as string),
    );
    expect(times.every(Number.isFinite)).toBe(true);
    expect([...times].sort()).toEqual(times);

    const lines = await allLogLines(uuid);
    expect(lines).toContain(`ci=true workers_ci=1 sha=${sha} branch=main uuid=${uuid}`);
    expect(lines).toContain("version 1");
    expect(lines).toContain("token is ***");
    expect(lines).toContain("mode=production");
    expect(lines).toContain("deployed");
    expect(lines.join("\n")).not.toContain("s3cr3t-value-42");
    // Stored masked: the secret is not in the BuildBuddy's storage either, only in PostgreSQL, sealed.
    const [sealed] = await platform.sql<{ sealed_value: string }>(
      "SELECT sealed_value FROM build_variables WHERE name = 'API_KEY'",
    );
    expect(sealed?.sealed_value).toMatch(/^v1\./);
    expect(sealed?.sealed_value).not.toContain("s3cr3t");
  });

  it("checks out an older commit when asked, and a root directory", async () => {
    const { trigger } = await workerWithTrigger({
      build_command: "cat version.txt; pwd",
      root_directory: "site",
    });
    const old = await repo.commit({ "site/version.txt": "old\n" }, "old site");
    await repo.commit({ "site/version.txt": "new\n" }, "new site");
    const uuid = await startBuild(trigger.id, { commit_hash: old });
    expect(await stopped(uuid)).toMatchObject({ build_outcome: "success", commit_hash: old });
    const lines = await allLogLines(uuid);
    expect(lines).toContain("old");
    expect(lines.some((l) => l.endsWith("/site"))).toBe(true);
  });

  it.each([
    ["the build command fails", { build_command: "echo compiling; exit 3" }, "build_command"],
    ["the deploy command fails", { build_command: "true", deploy_command: "exit 1" }, "deploy_command"],
    ["the root directory is missing", { root_directory: "no/such/dir" }, "clone"],
  ])("%s: failed with the failure class", async (_name, trigger, failureClass) => {
    const { trigger: t } = await workerWithTrigger(trigger);
    const uuid = await startBuild(t.id);
    expect(await stopped(uuid)).toMatchObject({ build_outcome: "failed", failure_class: failureClass });
  });

  it("streams the log live over server-sent events from the first line to the end", async () => {
    const { trigger } = await workerWithTrigger({
      build_command: "for i in $(seq 1 30); do echo line-$i; sleep 0.05; done",
    });
    const uuid = await startBuild(trigger.id);
    const res = await fetch(`${platform.api}/api/builds/${uuid}/logs/stream`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const text = await res.text();
    const data = [...text.matchAll(/event: log\ndata: (.*)\n/g)].map(
      (m) => (JSON.parse(m[1] as string) as { line: string }).line,
    );
    expect(data.filter((l) => l.startsWith("line-"))).toEqual(
      Array.from({ length: 30 }, (_, i) => `line-${i + 1}`),
    );
    expect(text).toMatch(/event: done\ndata: .*"build_outcome":"success"/);
    expect(data).toEqual(await allLogLines(uuid));
  });
});

describe("the build cache", () => {
  it("saves the package-manager cache after a success, restores it in the next build, and clears it on request", async () => {
    const { name, trigger } = await workerWithTrigger({
      build_command:
        'if [ -f "$npm_config_cache/marker" ]; then echo "cache hit: $(cat "$npm_config_cache/marker")"; else echo "cache miss"; fi; mkdir -p "$npm_config_cache"; echo "$WORKERS_CI_BUILD_UUID" > "$npm_config_cache/marker"',
    });
    const first = await startBuild(trigger.id);
    expect((await stopped(first)).build_outcome).toBe("success");
    expect(await allLogLines(first)).toContain("cache miss");
    const second = await startBuild(trigger.id);
    expect((await stopped(second)).build_outcome).toBe("success");
    expect(await allLogLines(second)).toContain(`cache hit: ${first}`);

    const cleared = await api<{ deleted: number }>("DELETE", `/api/workers/${name}/build_cache`, { token });
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.json.result.deleted).toBe(1);
    const third = await startBuild(trigger.id);
    expect((await stopped(third)).build_outcome).toBe("success");
    expect(await allLogLines(third)).toContain("cache miss");
  });
});

describe("the runner's callback API refuses what is not the build's own", () => {
  it("answers 401, 400 or 413 and stores nothing for a wrong token, a bad body or an oversized one", async () => {
    const { trigger } = await workerWithTrigger({ build_command: "echo only-line" });
    const uuid = await startBuild(trigger.id);
    await stopped(uuid);
    const before = await allLogLines(uuid);
    const post = (path: string, body: string, token?: string) =>
      fetch(`${platform.management}/api/builds/${uuid}/${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
      });
    const batch = JSON.stringify({ seq: 99, lines: [{ ts: 1, line: "forged" }] });
    expect((await post("logs", batch)).status).toBe(401);
    expect((await post("logs", batch, "f".repeat(64))).status).toBe(401);
    expect((await post("status", JSON.stringify({ status: "running" }), "f".repeat(64))).status).toBe(401);
    expect((await post("logs", "{not json", "f".repeat(64))).status).toBe(400);
    expect((await post("status", "x".repeat(10_000), "f".repeat(64))).status).toBe(413);
    const other = await fetch(`${platform.management}/api/builds/not-a-uuid/logs`, {
      method: "POST",
      body: batch,
    });
    expect(other.status).toBe(404);
    expect(await allLogLines(uuid)).toEqual(before);
    expect((await api<Build>("GET", `/api/builds/${uuid}`, { token })).json.result.build_outcome).toBe(
      "success",
    );
  });
});

describe("cancel, timeouts and faults", () => {
  it("cancels a running build: the process tree is killed and the build ends cancelled", async () => {
    const { trigger } = await workerWithTrigger({
      build_command: "echo started; sleep 30 & sleep 30; echo never",
    });
    const uuid = await startBuild(trigger.id);
    await waitForBuild(uuid, (b) => b.status === "running");
    const cancel = await api<Build>("PUT", `/api/builds/${uuid}/cancel`, { token });
    expect(cancel.status, cancel.text).toBe(200);
    const build = await stopped(uuid, 10_000);
    expect(build.build_outcome).toBe("cancelled");
    const lines = await allLogLines(uuid);
    expect(lines).not.toContain("never");
    expect(lines).toContain("platform: build cancelled");
    const again = await api("PUT", `/api/builds/${uuid}/cancel`, { token });
    expect(again.status).toBe(409);
  });

  it("a BuildBuddy evicted mid-build (workerd restarted) loses no log line and the build finishes", async () => {
    const { trigger } = await workerWithTrigger({
      build_command: "for i in $(seq 1 400); do echo n-$i; sleep 0.005; done",
    });
    const uuid = await startBuild(trigger.id);
    await waitForBuild(uuid, (b) => b.status === "running");
    await new Promise((r) => setTimeout(r, 500));
    await platform.target.restartWorkerd();
    const build = await stopped(uuid, 60_000);
    expect(build.build_outcome).toBe("success");
    const numbered = (await allLogLines(uuid)).filter((l) => l.startsWith("n-"));
    expect(numbered).toEqual(Array.from({ length: 400 }, (_, i) => `n-${i + 1}`));
  });

  it("a runner killed mid-build: the build fails its health check by alarm, never stays running", async () => {
    await repo.commit({ "runner.txt": "killed\n" }, "a commit of its own");
    const { trigger } = await workerWithTrigger({ build_command: "echo started; sleep 8" });
    const uuid = await startBuild(trigger.id);
    await waitForBuild(uuid, (b) => b.status === "running");
    const runner = platform.target.runners[0];
    if (!runner) throw new Error("no runner");
    process.kill(runner.pid, "SIGKILL");
    const build = await stopped(uuid, 20_000);
    expect(build).toMatchObject({ build_outcome: "failed", failure_class: "health_check" });
    expect((await allLogLines(uuid)).at(-1)).toMatch(/stopped reporting/);

    // With no runner at all, a new build waits for one until its start deadline, then fails to start.
    const next = await startBuild(trigger.id);
    const failed = await stopped(next, 30_000);
    expect(failed).toMatchObject({
      build_outcome: "failed",
      failure_class: "initialization",
      running_at: null,
    });
    const lines = await allLogLines(next);
    expect(lines[0]).toMatch(
      /^platform: waiting for a runner \(runner at http:\/\/127\.0\.0\.1:\d+ unreachable/,
    );
    // The killed runner's port is free: on a busy machine another process may take it meanwhile, and then
    // answers the start with something else than a runner would.
    expect(lines.at(-1)).toMatch(/could not be started: runner (at \S+ unreachable|\S+ refused the build)/);
    expect(lines.filter((l) => l.startsWith("platform: waiting"))).toHaveLength(1);
  }, 60_000);
});
