/**
 * Push webhooks (GitHub signatures, GitLab tokens, trigger matching, superseding) and deploy hooks
 * (secret URLs, rate limits) over HTTP, on the local target.
 */
import { describe, expect, it } from "vitest";
import { githubPush, githubSignature, gitlabPush, sha256Hex } from "./http";
import { usePlatform } from "./platform";

const t = usePlatform();

async function sendGitHub(body: string, secret: string | null, event = "push") {
  const headers: Record<string, string> = { "X-GitHub-Event": event };
  if (secret !== null) headers["X-Hub-Signature-256"] = githubSignature(secret, body);
  return t.call("POST", "/webhooks/github", { body, headers });
}

const buildsOf = (triggerId: string) =>
  t.sql<{
    build_uuid: string;
    status: string;
    build_outcome: string | null;
    source: string;
    commit_hash: string;
    commit_message: string;
    branch: string;
    production: boolean;
  }>(
    "SELECT build_uuid, status, build_outcome, source, commit_hash, commit_message, branch, production FROM builds WHERE trigger_id = $1 ORDER BY created_at",
    [triggerId],
  );

describe("GitHub push webhooks", () => {
  it("queue a build for a validly signed push of a connected repository", async () => {
    const token = await t.token("acct-gh");
    const repo = await t.platform.gitRepo();
    const sha = await repo.commit({ "src/index.ts": "export default {}" }, "Add the Worker\n\nwith a body");
    const { trigger } = await t.workerWithTrigger(token, { repo_url: repo.url });
    const res = await sendGitHub(
      githubPush({ repoUrl: repo.url, sha, message: "Add the Worker\n\nwith a body" }),
      trigger.webhook_secret,
    );
    expect(res.status, res.text).toBe(202);
    const rows = await buildsOf(trigger.id);
    expect(res.json.result).toEqual({
      builds: [{ build_uuid: rows[0]!.build_uuid, trigger_id: trigger.id, status: "queued" }],
      skipped: [],
    });
    expect(rows).toEqual([
      {
        build_uuid: expect.any(String),
        status: "queued",
        build_outcome: null,
        source: "webhook",
        commit_hash: sha,
        commit_message: "Add the Worker",
        branch: "main",
        production: true,
      },
    ]);
  });

  it("refuse forged, unsigned and unknown-repository deliveries alike with 401, writing nothing", async () => {
    const token = await t.token("acct-gh-forged");
    const { trigger } = await t.workerWithTrigger(token);
    const body = githubPush({ repoUrl: trigger.repo_url, sha: "a".repeat(40), message: "m" });
    const before = await t.counts();
    const forged = await sendGitHub(body, "0".repeat(64));
    const unsigned = await sendGitHub(body, null);
    const tampered = await t.call("POST", "/webhooks/github", {
      body: body.replace('"m"', '"n"'),
      headers: {
        "X-GitHub-Event": "push",
        "X-Hub-Signature-256": githubSignature(trigger.webhook_secret, body),
      },
    });
    const unknown = await sendGitHub(
      githubPush({ repoUrl: "https://github.com/nobody/unknown", sha: "a".repeat(40), message: "m" }),
      trigger.webhook_secret,
    );
    for (const res of [forged, unsigned, tampered, unknown]) {
      expect(res.status).toBe(401);
      expect(res.json.errors).toEqual([
        { code: 1007, message: "webhook signature does not verify for any connected repository" },
      ]);
    }
    expect(await t.counts()).toEqual(before);
  });

  it("answer a signed ping with 200 and queue nothing", async () => {
    const token = await t.token("acct-gh-ping");
    const { trigger } = await t.workerWithTrigger(token);
    const body = JSON.stringify({
      zen: "Keep it simple.",
      hook_id: 1,
      repository: { clone_url: trigger.repo_url },
    });
    const res = await sendGitHub(body, trigger.webhook_secret, "ping");
    expect(res.status).toBe(200);
    expect(res.json.result).toEqual({
      builds: [],
      ignored: "ping event: GitHub confirms the webhook was created",
    });
    expect(await buildsOf(trigger.id)).toEqual([]);
  });

  it("skip [skip ci] commits and pushes that touch only excluded paths", async () => {
    const token = await t.token("acct-gh-skip");
    const { trigger } = await t.workerWithTrigger(token, { path_excludes: ["docs/*"] });
    const skipCi = await sendGitHub(
      githubPush({ repoUrl: trigger.repo_url, sha: "b".repeat(40), message: "Tidy up [skip ci]" }),
      trigger.webhook_secret,
    );
    expect(skipCi.status).toBe(202);
    expect(skipCi.json.result).toEqual({
      builds: [],
      skipped: [{ trigger_id: trigger.id, reason: expect.stringMatching(/skip CI/) }],
    });
    const docs = await sendGitHub(
      githubPush({
        repoUrl: trigger.repo_url,
        sha: "c".repeat(40),
        message: "Docs",
        files: ["docs/a.md", "docs/b.md"],
      }),
      trigger.webhook_secret,
    );
    expect(docs.json.result.builds).toEqual([]);
    expect(docs.json.result.skipped).toHaveLength(1);
    const mixed = await sendGitHub(
      githubPush({
        repoUrl: trigger.repo_url,
        sha: "d".repeat(40),
        message: "Code",
        files: ["docs/a.md", "src/x.ts"],
      }),
      trigger.webhook_secret,
    );
    expect(mixed.json.result.builds).toHaveLength(1);
    expect(await buildsOf(trigger.id)).toHaveLength(1);
  });

  it("supersede a queued build of the same branch with a newer push", async () => {
    const token = await t.token("acct-gh-supersede");
    const { trigger } = await t.workerWithTrigger(token, { build_non_production_branches: true });
    const push = (sha: string, branch = "main") =>
      sendGitHub(
        githubPush({ repoUrl: trigger.repo_url, sha, branch, message: sha.slice(0, 7) }),
        trigger.webhook_secret,
      );
    // A build asked for through the API is the user's explicit choice: pushes never supersede it.
    const manual = await t.call("POST", `/api/triggers/${trigger.id}/builds`, {
      token,
      body: { commit_hash: "0".repeat(40) },
    });
    expect(manual.status).toBe(201);
    await push("1".repeat(40));
    await push("2".repeat(40), "feature/x");
    await push("3".repeat(40));
    const rows = await buildsOf(trigger.id);
    expect(rows.map((r) => [r.commit_hash[0], r.branch, r.production, r.status, r.build_outcome])).toEqual([
      ["0", "main", true, "queued", null],
      ["1", "main", true, "stopped", "skipped"],
      ["2", "feature/x", false, "queued", null],
      ["3", "main", true, "queued", null],
    ]);
  });

  it("skip a non-production branch when its trigger does not build them", async () => {
    const token = await t.token("acct-gh-branch");
    const { trigger } = await t.workerWithTrigger(token);
    const res = await sendGitHub(
      githubPush({ repoUrl: trigger.repo_url, sha: "e".repeat(40), branch: "dev", message: "m" }),
      trigger.webhook_secret,
    );
    expect(res.json.result.skipped[0].reason).toMatch(/not the production branch/);
    expect(await buildsOf(trigger.id)).toEqual([]);
  });
});

describe("GitLab push webhooks", () => {
  it("queue a build when X-Gitlab-Token is the secret, and refuse any other token", async () => {
    const token = await t.token("acct-gl");
    const { trigger } = await t.workerWithTrigger(token, { repo_url: "https://gitlab.com/acme/gl-app" });
    expect(trigger.provider).toBe("gitlab");
    const body = gitlabPush({
      repoUrl: "https://gitlab.com/acme/gl-app",
      sha: "f".repeat(40),
      message: "GitLab push",
    });
    const send = (secret: string) =>
      t.call("POST", "/webhooks/gitlab", {
        body,
        headers: { "X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret },
      });
    const before = await t.counts();
    expect((await send("wrong")).status).toBe(401);
    expect((await send(`${trigger.webhook_secret}x`)).status).toBe(401);
    expect(await t.counts()).toEqual(before);
    const res = await send(trigger.webhook_secret);
    expect(res.status).toBe(202);
    expect(res.json.result.builds).toHaveLength(1);
    expect((await buildsOf(trigger.id))[0]).toMatchObject({
      source: "webhook",
      commit_message: "GitLab push",
    });
    // A GitHub delivery for a GitLab connection does not verify, even with the right secret.
    const cross = await sendGitHub(
      githubPush({ repoUrl: "https://gitlab.com/acme/gl-app", sha: "f".repeat(40), message: "x" }),
      trigger.webhook_secret,
    );
    expect(cross.status).toBe(401);
  });
});

describe("deploy hooks", () => {
  it("show the secret URL once, store only its hash, and build the hook's branch", async () => {
    const token = await t.token("acct-dh");
    const { trigger } = await t.workerWithTrigger(token);
    const created = await t.call("POST", `/api/triggers/${trigger.id}/deploy_hooks`, {
      token,
      body: { name: "CMS publish", branch: "content" },
    });
    expect(created.status).toBe(201);
    expect(created.json.result).toEqual({
      id: expect.any(String),
      trigger_id: trigger.id,
      name: "CMS publish",
      branch: "content",
      created_at: expect.any(String),
      url_path: expect.stringMatching(/^\/hooks\/deploy\/[A-Za-z0-9_-]{43}$/),
    });
    const secret = created.json.result.url_path.split("/").pop() as string;
    const [stored] = await t.sql<{ secret_sha256: string }>(
      "SELECT secret_sha256 FROM deploy_hooks WHERE id = $1",
      [created.json.result.id],
    );
    expect(stored!.secret_sha256).toBe(sha256Hex(secret));
    const list = await t.call("GET", `/api/triggers/${trigger.id}/deploy_hooks`, { token });
    const { url_path: _, ...shown } = created.json.result;
    expect(list.json.result).toEqual([shown]);
    expect(list.text).not.toContain(secret);

    const fired = await t.call("POST", created.json.result.url_path);
    expect(fired.status).toBe(202);
    expect(fired.json.result).toEqual({ build_uuid: expect.any(String), status: "queued" });
    expect(await buildsOf(trigger.id)).toMatchObject([
      { source: "deploy_hook", branch: "content", production: false },
    ]);

    expect((await t.call("DELETE", `/api/deploy_hooks/${created.json.result.id}`, { token })).status).toBe(
      200,
    );
    expect((await t.call("POST", created.json.result.url_path)).status).toBe(404);
  });

  it("answer an unknown secret with 404 and queue nothing", async () => {
    const before = await t.counts();
    const res = await t.call("POST", `/hooks/deploy/${"A".repeat(43)}`);
    expect(res.status).toBe(404);
    expect(res.json.errors).toEqual([{ code: 1004, message: "deploy hook not found" }]);
    expect((await t.call("POST", "/hooks/deploy/short")).status).toBe(404);
    expect(await t.counts()).toEqual(before);
  });

  it("allow 10 calls a minute per Worker and answer the 11th 429 with Retry-After", async () => {
    const token = await t.token("acct-dh-limit");
    const { worker, trigger } = await t.workerWithTrigger(token);
    const hook = (
      await t.call("POST", `/api/triggers/${trigger.id}/deploy_hooks`, { token, body: { name: "h" } })
    ).json.result;
    // Eleven calls must fall in one fixed minute window.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await t.call("POST", hook.url_path)).status);
    expect(statuses).toEqual(Array(10).fill(202));
    const over = await t.call("POST", hook.url_path);
    expect(over.status).toBe(429);
    const retryAfter = Number(over.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(over.json.errors[0]).toEqual({
      code: 1006,
      message: "deploy hooks of this worker are limited to 10 calls per 60 s; retry later",
    });
    const builds = await t.sql<{ n: number }>(
      "SELECT count(*)::int AS n FROM builds WHERE worker_id = $1 AND source = 'deploy_hook'",
      [worker.id],
    );
    expect(builds[0]!.n).toBe(10);
  }, 90_000);

  it("allow 100 calls a minute per account over all its Workers, refusing without counting the refusal", async () => {
    const token = await t.token("acct-dh-account");
    const urls: string[] = [];
    for (let i = 0; i < 11; i++) {
      const { trigger } = await t.workerWithTrigger(token);
      const hook = await t.call("POST", `/api/triggers/${trigger.id}/deploy_hooks`, {
        token,
        body: { name: "h" },
      });
      urls.push(hook.json.result.url_path);
    }
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));
    const statuses: number[] = [];
    for (const url of urls.slice(0, 10)) {
      for (let i = 0; i < 10; i++) statuses.push((await t.call("POST", url)).status);
    }
    expect(statuses).toEqual(Array(100).fill(202));
    // The 11th Worker is under its own limit, but the account is not.
    const over = await t.call("POST", urls[10]!);
    expect(over.status).toBe(429);
    expect(over.json.errors[0]!.message).toBe(
      "deploy hooks of this account are limited to 100 calls per 60 s; retry later",
    );
    const [{ n }] = (await t.sql<{ n: number }>(
      "SELECT count AS n FROM rate_limits WHERE key = 'deploy-hook:account:60s:acct-dh-account' ORDER BY window_start DESC LIMIT 1",
    )) as [{ n: number }];
    expect(n).toBe(100);
  }, 120_000);
});
