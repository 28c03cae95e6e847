/**
 * Commit statuses end to end on the local target: a repository connection with a status token and an API
 * URL pointing at a local stand-in of GitHub's and GitLab's statuses API (127.0.0.1 only), builds that
 * succeed, fail and are cancelled, and the requests the stand-in receives, in order and exactly. The token
 * never appears in an API response or a log line.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { buildsApi } from "./builds";
import { client, githubPush, githubSignature, gitlabPush } from "./http";

const TOKENS = { github: "ghp_StatusToken0123456789abcdef", gitlab: "glpat-StatusToken-0123456789" } as const;

interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, string>;
}

let standIn: Server;
let standInUrl: string;
const received: Received[] = [];
const logs: string[] = [];
let platform: BuildsPlatform;
let builds: ReturnType<typeof buildsApi>;
let api: ReturnType<typeof client>;
let token: string;
const consoleMethods = ["log", "info", "warn", "error", "debug"] as const;
const originalConsole = consoleMethods.map((m) => console[m]);

beforeAll(async () => {
  standIn = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk) => {
      text += chunk;
    });
    req.on("end", () => {
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: JSON.parse(text),
      });
      res.writeHead(201, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve));
  standInUrl = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
  // Workers' log lines reach this process through Miniflare's console: every one is kept for the audit.
  for (const m of consoleMethods) {
    const original = console[m];
    console[m] = (...args: unknown[]) => {
      logs.push(args.map(String).join(" "));
      original.apply(console, args);
    };
  }
  platform = await startBuildsPlatform({
    builds: { startTimeoutSeconds: 10, heartbeatTimeoutSeconds: 5, maxConcurrentPerAccount: 20 },
    log: (line) => logs.push(line),
  });
  api = client(platform.api);
  token = await platform.token("status-account");
  builds = buildsApi(platform.api, token);
}, 120_000);

afterAll(async () => {
  consoleMethods.forEach((m, i) => {
    console[m] = originalConsole[i]!;
  });
  await platform?.stop();
  await new Promise((resolve) => standIn?.close(resolve));
}, 60_000);

type Provider = keyof typeof TOKENS;
let serial = 0;

/** Starts a build through the API; answers its uuid. */
async function startBuild(triggerId: string, body: Record<string, unknown>): Promise<string> {
  const res = await api.call("POST", `/api/triggers/${triggerId}/builds`, { token, body });
  expect(res.status, res.text).toBe(201);
  return res.json.result.build_uuid;
}

/** A Worker with a trigger on a new repository whose connection reports statuses to the stand-in. */
async function reportingWorker(provider: Provider, trigger: Record<string, unknown>) {
  const repo = await platform.gitRepo();
  const apiPath = provider === "github" ? "/api/v3" : "/api/v4";
  const name = `st-${provider}-${++serial}`;
  const worker = await api.call("POST", "/api/workers", { token, body: { name } });
  expect(worker.status, worker.text).toBe(201);
  const created = await api.call("POST", `/api/workers/${name}/triggers`, {
    token,
    body: {
      repo_url: repo.url,
      provider,
      production_branch: "main",
      deploy_command: "echo deployed",
      status_api_url: `${standInUrl}${apiPath}/`,
      status_token: TOKENS[provider],
      ...trigger,
    },
  });
  expect(created.status, created.text).toBe(201);
  return { repo, name, trigger: created.json.result };
}

/** The path the stand-in sees for a commit of the repository. */
function statusPath(provider: Provider, repo: GitRepo, sha: string): string {
  const parts = new URL(repo.url).pathname
    .replace(/\.git$/, "")
    .split("/")
    .filter(Boolean);
  return provider === "github"
    ? `/api/v3/repos/${parts.slice(-2).join("/")}/statuses/${sha}`
    : `/api/v4/projects/${encodeURIComponent(parts.join("/"))}/statuses/${sha}`;
}

/** The requests for one commit, once the final (non-pending, non-running) one has arrived. */
async function statusesUntilFinal(path: string): Promise<Received[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const mine = received.filter((r) => r.path === path);
    if (mine.some((r) => !["pending", "running"].includes(r.body.state!))) {
      // Anything sent after the final one would be a bug: give it a moment to show up.
      await new Promise((r) => setTimeout(r, 300));
      return received.filter((r) => r.path === path);
    }
    if (Date.now() > deadline) throw new Error(`no final status at ${path}: ${JSON.stringify(mine)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expectHeaders(provider: Provider, headers: Received["headers"]) {
  if (provider === "github") {
    expect(headers).toMatchObject({
      authorization: `Bearer ${TOKENS.github}`,
      accept: "application/vnd.github+json",
      "x-github-api-version": "2022-11-28",
      "user-agent": "workers-builds",
      "content-type": "application/json",
    });
    expect(headers["private-token"]).toBeUndefined();
  } else {
    expect(headers).toMatchObject({
      "private-token": TOKENS.gitlab,
      "user-agent": "workers-builds",
      "content-type": "application/json",
    });
    expect(headers.authorization).toBeUndefined();
  }
}

/** The bodies in order: any number of pending (GitLab: pending, then running) statuses, then exactly `final`. */
function expectSequence(
  provider: Provider,
  statuses: Received[],
  final: Record<string, string>,
  link: { uuid: string; worker: string },
) {
  for (const s of statuses) {
    expect(s.method).toBe("POST");
    expectHeaders(provider, s.headers);
  }
  const bodies = statuses.map((s) => s.body);
  const pending =
    provider === "github"
      ? ["pending: Build queued", "pending: Build running"]
      : ["pending: Build queued", "running: Build running"];
  const steps = bodies.slice(0, -1).map((b) => `${b.state}: ${b.description}`);
  expect(steps.length).toBeGreaterThanOrEqual(1);
  // In order, each at most once: a later state never comes before an earlier one.
  expect(steps).toEqual(pending.filter((p) => steps.includes(p)));
  const target_url = `${platform.api}/api/builds/${link.uuid}`;
  const name = `Workers Builds: ${link.worker}`;
  for (const body of bodies) {
    expect(Object.keys(body).sort()).toEqual(
      provider === "github"
        ? ["context", "description", "state", "target_url"]
        : ["description", "name", "state", "target_url"],
    );
    expect(body).toMatchObject(provider === "github" ? { target_url, context: name } : { target_url, name });
  }
  expect(bodies.at(-1)).toMatchObject(final);
}

const FINALS = {
  success: {
    github: { state: "success", description: "Build succeeded" },
    gitlab: { state: "success", description: "Build succeeded" },
  },
  failure: {
    github: { state: "failure", description: "Build failed: the build command failed" },
    gitlab: { state: "failed", description: "Build failed: the build command failed" },
  },
  cancel: {
    github: { state: "error", description: "Build cancelled" },
    gitlab: { state: "canceled", description: "Build cancelled" },
  },
};

describe.each(["github", "gitlab"] as const)("%s commit statuses", (provider) => {
  it("shows the connection's status settings without the token", async () => {
    const { trigger } = await reportingWorker(provider, {});
    expect(trigger.status_token_set).toBe(true);
    expect(trigger.status_api_url).toBe(`${standInUrl}${provider === "github" ? "/api/v3" : "/api/v4"}`);
    expect(JSON.stringify(trigger)).not.toContain(TOKENS[provider]);
    const [row] = await platform.sql<{ status_token_sealed: string }>(
      "SELECT rc.status_token_sealed FROM triggers t JOIN repo_connections rc ON rc.id = t.repo_connection_id WHERE t.id = $1",
      [trigger.id],
    );
    expect(row!.status_token_sealed).toMatch(/^v1\./);
    expect(row!.status_token_sealed).not.toContain(TOKENS[provider]);
  });

  it("a pushed commit that builds: pending, then success", async () => {
    const { repo, name, trigger } = await reportingWorker(provider, { build_command: "echo built" });
    const sha = await repo.commit({ "app.txt": "v1\n" }, "a change");
    const hook =
      provider === "github"
        ? await (() => {
            const body = githubPush({ repoUrl: repo.url, sha, message: "a change", files: ["app.txt"] });
            return api.call("POST", "/webhooks/github", {
              body,
              headers: {
                "X-GitHub-Event": "push",
                "X-Hub-Signature-256": githubSignature(trigger.webhook_secret, body),
              },
            });
          })()
        : await api.call("POST", "/webhooks/gitlab", {
            body: gitlabPush({
              repoUrl: repo.url.replace(/\.git$/, ""),
              sha,
              message: "a change",
              files: ["app.txt"],
            }),
            headers: { "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": trigger.webhook_secret },
          });
    expect(hook.status, hook.text).toBe(202);
    const uuid = hook.json.result.builds[0].build_uuid as string;
    expect(await builds.stopped(uuid)).toMatchObject({ build_outcome: "success" });
    const statuses = await statusesUntilFinal(statusPath(provider, repo, sha));
    expectSequence(provider, statuses, FINALS.success[provider], { uuid, worker: name });
  });

  it("a commit whose build command fails: pending, then failure", async () => {
    const { repo, name, trigger } = await reportingWorker(provider, { build_command: "exit 3" });
    const sha = await repo.commit({ "app.txt": "broken\n" }, "a broken change");
    const uuid = await startBuild(trigger.id, { commit_hash: sha });
    expect(await builds.stopped(uuid)).toMatchObject({ build_outcome: "failed" });
    const statuses = await statusesUntilFinal(statusPath(provider, repo, sha));
    expectSequence(provider, statuses, FINALS.failure[provider], { uuid, worker: name });
  });

  it("a build of a branch cancelled while it runs: its commit, learned from the runner, gets the cancel", async () => {
    const { repo, name, trigger } = await reportingWorker(provider, { build_command: "sleep 30" });
    const sha = await repo.commit({ "app.txt": "slow\n" }, "a slow change");
    const uuid = await startBuild(trigger.id, { branch: "main" });
    await builds.waitForBuild(uuid, (b) => b.status === "running" && b.commit_hash === sha);
    const cancel = await api.call("PUT", `/api/builds/${uuid}/cancel`, { token });
    expect(cancel.status, cancel.text).toBe(200);
    const statuses = await statusesUntilFinal(statusPath(provider, repo, sha));
    expectSequence(provider, statuses, FINALS.cancel[provider], { uuid, worker: name });
  });
});

describe("status settings through the API", () => {
  it("a PATCH replaces or removes the token and the API URL; a bad one is refused and changes nothing", async () => {
    const { trigger } = await reportingWorker("github", {});
    const patch = (body: Record<string, unknown>) =>
      api.call("PATCH", `/api/triggers/${trigger.id}`, { token, body });
    for (const bad of [
      { status_api_url: "http://ghe.example.com/api/v3" },
      { status_api_url: "https://user:pw@ghe.example.com/api/v3" },
      { status_token: "two\nlines" },
      { status_token: "" },
    ]) {
      const res = await patch(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.text).not.toContain("two\nlines");
    }
    expect((await api.call("GET", `/api/triggers/${trigger.id}`, { token })).json.result).toMatchObject({
      status_token_set: true,
      status_api_url: `${standInUrl}/api/v3`,
    });
    const removed = await patch({ status_token: null, status_api_url: null });
    expect(removed.status, removed.text).toBe(200);
    expect(removed.json.result).toMatchObject({
      status_token_set: false,
      status_api_url: "https://api.github.com",
    });
    const set = await patch({
      status_token: "another-token",
      status_api_url: "https://ghe.example.com/api/v3",
    });
    expect(set.json.result).toMatchObject({
      status_token_set: true,
      status_api_url: "https://ghe.example.com/api/v3",
    });
    expect(set.text).not.toContain("another-token");
  });
});

describe("the tokens", () => {
  it("appear in no API response and no log line", () => {
    const answers = api.seen;
    expect(answers.length).toBeGreaterThan(10);
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [...Object.values(TOKENS), "another-token"]) {
      expect(answers.filter((a) => a.includes(secret))).toEqual([]);
      expect(logs.filter((l) => l.includes(secret))).toEqual([]);
    }
  });
});
