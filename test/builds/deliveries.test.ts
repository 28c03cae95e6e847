/**
 * Webhook deliveries exactly as GitHub and GitLab send them (their documented payloads and headers, the
 * form-encoded GitHub content type) and redeliveries, over HTTP on the local target.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { githubDelivery, githubPayload, gitlabDelivery, gitlabPayload } from "./deliveries";
import { usePlatform } from "./platform";

const t = usePlatform();

const send = (provider: "github" | "gitlab", delivery: { body: string; headers: Record<string, string> }) =>
  t.call("POST", `/webhooks/${provider}`, { body: delivery.body, headers: delivery.headers });

const buildsOf = (triggerId: string) =>
  t.sql<{ build_uuid: string; commit_hash: string; commit_message: string; branch: string }>(
    "SELECT build_uuid, commit_hash, commit_message, branch FROM builds WHERE trigger_id = $1 ORDER BY created_at",
    [triggerId],
  );

const deliveriesOf = (id: string) =>
  t.sql<{ provider: string; response_status: number }>(
    "SELECT provider, response_status FROM webhook_deliveries WHERE delivery_id = $1",
    [id],
  );

const sha = (c: string) => c.repeat(40);

async function githubTrigger(account: string, trigger: Record<string, unknown> = {}) {
  const token = await t.token(account);
  return (await t.workerWithTrigger(token, trigger)).trigger;
}

describe("GitHub deliveries as GitHub documents them", () => {
  it("a push with every documented header queues a build of its head commit", async () => {
    const trigger = await githubTrigger("acct-doc-push");
    const payload = githubPayload("push-new-branch", {
      repoUrl: trigger.repo_url,
      ref: "refs/heads/main",
      sha: sha("1"),
    });
    const res = await send("github", githubDelivery("push", payload, trigger.webhook_secret));
    expect(res.status, res.text).toBe(202);
    const rows = await buildsOf(trigger.id);
    expect(rows).toEqual([
      {
        build_uuid: expect.any(String),
        commit_hash: sha("1"),
        commit_message: "Initial commit",
        branch: "main",
      },
    ]);
    expect(res.json.result).toEqual({
      builds: [{ build_uuid: rows[0]!.build_uuid, trigger_id: trigger.id, status: "queued" }],
      skipped: [],
    });
  });

  it("a push form-encoded (a webhook's default content type) is read from its payload field, signed over the form", async () => {
    const trigger = await githubTrigger("acct-doc-form");
    const payload = githubPayload("push-new-branch", {
      repoUrl: trigger.repo_url,
      ref: "refs/heads/main",
      sha: sha("2"),
      message: "Form-encoded push & more = fine",
    });
    const delivery = githubDelivery("push", payload, trigger.webhook_secret, { form: true });
    expect(delivery.body.startsWith("payload=%7B")).toBe(true);

    // Signed over the JSON instead of the body as sent: refused, nothing written.
    const json = githubDelivery("push", payload, trigger.webhook_secret);
    const before = await t.counts();
    const wrong = await send("github", {
      body: delivery.body,
      headers: { ...delivery.headers, "X-Hub-Signature-256": json.headers["X-Hub-Signature-256"]! },
    });
    expect(wrong.status).toBe(401);
    expect(await t.counts()).toEqual(before);

    const res = await send("github", delivery);
    expect(res.status, res.text).toBe(202);
    expect(await buildsOf(trigger.id)).toEqual([
      {
        build_uuid: res.json.result.builds[0].build_uuid,
        commit_hash: sha("2"),
        commit_message: "Form-encoded push & more = fine",
        branch: "main",
      },
    ]);
  });

  it("a form without a payload field, or a body that is not JSON, is a 400 naming what is wrong", async () => {
    const trigger = await githubTrigger("acct-doc-badform");
    const before = await t.counts();
    const noField = githubDelivery("push", {}, trigger.webhook_secret, { form: true });
    const res = await send("github", { ...noField, body: "data=%7B%7D" });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]?.message).toMatch(/form-encoded delivery carries its JSON in a payload field/);
    const xml = await send("github", {
      body: "<push/>",
      headers: { ...noField.headers, "Content-Type": "application/xml" },
    });
    expect(xml.status).toBe(400);
    expect(xml.json.errors[0]?.message).toMatch(/body: not valid JSON \(Content-Type application\/xml\)/);
    expect(await t.counts()).toEqual(before);
  });

  it("tag pushes, tag and branch deletions, create and delete events are answered 200 and build nothing", async () => {
    const trigger = await githubTrigger("acct-doc-ignored", { build_non_production_branches: true });
    const cases: [string, string, object][] = [
      [
        "push",
        "tag v1.0.0 was pushed: tag pushes do not start builds",
        {
          ...githubPayload("push-new-branch", { repoUrl: trigger.repo_url, sha: sha("3") }),
          ref: "refs/tags/v1.0.0",
        },
      ],
      [
        "push",
        "tag simple-tag was deleted",
        githubPayload("push-tag-deleted", { repoUrl: trigger.repo_url }),
      ],
      [
        "push",
        "branch feature was deleted",
        githubPayload("push-tag-deleted", { repoUrl: trigger.repo_url, ref: "refs/heads/feature" }),
      ],
      ["create", "create events do not start builds", githubPayload("create", { repoUrl: trigger.repo_url })],
      ["delete", "delete events do not start builds", githubPayload("delete", { repoUrl: trigger.repo_url })],
      [
        "ping",
        "ping event: GitHub confirms the webhook was created",
        githubPayload("ping", { repoUrl: trigger.repo_url }),
      ],
    ];
    for (const [event, reason, payload] of cases) {
      const res = await send("github", githubDelivery(event, payload, trigger.webhook_secret));
      expect([res.status, res.json.result], `${event}: ${reason}`).toEqual([
        200,
        { builds: [], ignored: reason },
      ]);
    }
    expect(await buildsOf(trigger.id)).toEqual([]);
  });

  it("an organization webhook's ping names no repository, so no secret can verify it: 401", async () => {
    const trigger = await githubTrigger("acct-doc-orgping");
    const res = await send(
      "github",
      githubDelivery("ping", githubPayload("ping-organization", { repoUrl: "" }), trigger.webhook_secret),
    );
    expect(res.status).toBe(401);
  });
});

describe("redeliveries", () => {
  it("a GitHub redelivery (same X-GitHub-Delivery) answers what the first did and starts nothing", async () => {
    const trigger = await githubTrigger("acct-redeliver");
    const payload = githubPayload("push-new-branch", {
      repoUrl: trigger.repo_url,
      ref: "refs/heads/main",
      sha: sha("4"),
    });
    const delivery = githubDelivery("push", payload, trigger.webhook_secret);
    const first = await send("github", delivery);
    expect(first.status).toBe(202);
    expect(first.headers.get("X-Delivery-Replayed")).toBeNull();
    const countsAfterFirst = await t.counts();

    const again = await send("github", delivery);
    expect(again.status).toBe(202);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("X-Delivery-Replayed")).toBe("true");
    expect(await t.counts()).toEqual(countsAfterFirst);
    expect(await buildsOf(trigger.id)).toHaveLength(1);
    expect(await deliveriesOf(delivery.headers["X-GitHub-Delivery"]!)).toEqual([
      { provider: "github", response_status: 202 },
    ]);

    // The same push under a new delivery id is a new delivery: it supersedes the queued build.
    const fresh = await send("github", githubDelivery("push", payload, trigger.webhook_secret));
    expect(fresh.status).toBe(202);
    expect(fresh.json.result.builds[0].build_uuid).not.toBe(first.json.result.builds[0].build_uuid);
    expect(await buildsOf(trigger.id)).toHaveLength(2);
  });

  it("copies of one delivery arriving at once queue exactly one build", async () => {
    const trigger = await githubTrigger("acct-redeliver-race");
    const payload = githubPayload("push-new-branch", {
      repoUrl: trigger.repo_url,
      ref: "refs/heads/main",
      sha: sha("5"),
    });
    const delivery = githubDelivery("push", payload, trigger.webhook_secret);
    const answers = await Promise.all(Array.from({ length: 6 }, () => send("github", delivery)));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get("X-Delivery-Replayed") === "true")).toHaveLength(5);
    expect(await buildsOf(trigger.id)).toHaveLength(1);
  });

  it("an ignored delivery is remembered too, and a reused id with another body is refused with 409", async () => {
    const trigger = await githubTrigger("acct-redeliver-409");
    const ping = githubDelivery(
      "ping",
      githubPayload("ping", { repoUrl: trigger.repo_url }),
      trigger.webhook_secret,
    );
    const first = await send("github", ping);
    expect(first.status).toBe(200);
    const again = await send("github", ping);
    expect([again.status, again.text, again.headers.get("X-Delivery-Replayed")]).toEqual([
      200,
      first.text,
      "true",
    ]);

    const push = githubDelivery(
      "push",
      githubPayload("push-new-branch", { repoUrl: trigger.repo_url, ref: "refs/heads/main", sha: sha("6") }),
      trigger.webhook_secret,
      { delivery: ping.headers["X-GitHub-Delivery"]! },
    );
    const before = await t.counts();
    const reused = await send("github", push);
    expect(reused.status).toBe(409);
    expect(reused.json.errors[0]?.message).toMatch(/already received with a different body/);
    expect(await t.counts()).toEqual(before);
  });

  it("a delivery is remembered for 8 days: a redelivery within them starts nothing, older records are deleted", async () => {
    const trigger = await githubTrigger("acct-redeliver-retention");
    const payload = githubPayload("push-new-branch", {
      repoUrl: trigger.repo_url,
      ref: "refs/heads/main",
      sha: sha("7"),
    });
    const week = githubDelivery("push", payload, trigger.webhook_secret);
    const old = githubDelivery("push", payload, trigger.webhook_secret);
    expect((await send("github", week)).status).toBe(202);
    expect((await send("github", old)).status).toBe(202);
    const ids = [week, old].map((d) => d.headers["X-GitHub-Delivery"]!);
    await t.sql(
      `UPDATE webhook_deliveries SET received_at = clock_timestamp() - CASE delivery_id
         WHEN $1 THEN interval '7 days 23 hours' ELSE interval '8 days 1 minute' END
        WHERE delivery_id = ANY($2::text[])`,
      [ids[0], ids],
    );
    const builds = (await buildsOf(trigger.id)).length;
    const weekAgain = await send("github", week);
    expect(weekAgain.headers.get("X-Delivery-Replayed")).toBe("true");
    expect(await buildsOf(trigger.id)).toHaveLength(builds);
    // Any delivery deletes what is past the retention.
    expect(await deliveriesOf(ids[1]!)).toEqual([]);
    expect(await deliveriesOf(ids[0]!)).toHaveLength(1);
  });

  it("a GitLab resend with the same Idempotency-Key, or without one the same X-Gitlab-Event-UUID, starts nothing", async () => {
    const token = await t.token("acct-gl-redeliver");
    const repoUrl = `https://gitlab.com/acme/${t.unique("gl")}`;
    const { trigger } = await t.workerWithTrigger(token, { repo_url: repoUrl, production_branch: "master" });
    const payload = gitlabPayload("push", { repoUrl, sha: sha("8") });
    const keyed = gitlabDelivery("Push Hook", payload, trigger.webhook_secret);
    const first = await send("gitlab", keyed);
    expect(first.status, first.text).toBe(202);
    // A resend keeps the Idempotency-Key; GitLab gives it a new webhook UUID.
    const resent = await send("gitlab", {
      body: keyed.body,
      headers: { ...keyed.headers, "X-Gitlab-Webhook-UUID": randomUUID() },
    });
    expect([resent.status, resent.text, resent.headers.get("X-Delivery-Replayed")]).toEqual([
      202,
      first.text,
      "true",
    ]);

    const older = gitlabDelivery(
      "Push Hook",
      gitlabPayload("push", { repoUrl, sha: sha("9") }),
      trigger.webhook_secret,
      {
        idempotencyKey: null,
      },
    );
    expect((await send("gitlab", older)).status).toBe(202);
    const olderAgain = await send("gitlab", older);
    expect(olderAgain.headers.get("X-Delivery-Replayed")).toBe("true");
    expect(await buildsOf(trigger.id)).toHaveLength(2);
  });

  it("two accounts' GitLab webhooks on one repository share the event's X-Gitlab-Event-UUID and each builds once", async () => {
    const repoUrl = `https://gitlab.com/acme/${t.unique("gl-shared")}`;
    const a = (
      await t.workerWithTrigger(await t.token("acct-gl-a"), {
        repo_url: repoUrl,
        production_branch: "master",
      })
    ).trigger;
    const b = (
      await t.workerWithTrigger(await t.token("acct-gl-b"), {
        repo_url: repoUrl,
        production_branch: "master",
      })
    ).trigger;
    const eventUuid = randomUUID();
    const payload = gitlabPayload("push", { repoUrl, sha: sha("a") });
    const toA = gitlabDelivery("Push Hook", payload, a.webhook_secret, { idempotencyKey: null, eventUuid });
    const toB = gitlabDelivery("Push Hook", payload, b.webhook_secret, { idempotencyKey: null, eventUuid });
    for (const delivery of [toA, toB, toA, toB]) expect((await send("gitlab", delivery)).status).toBe(202);
    expect(await buildsOf(a.id)).toHaveLength(1);
    expect(await buildsOf(b.id)).toHaveLength(1);
  });
});

describe("GitLab deliveries as GitLab documents them", () => {
  it("a push with every documented header queues a build of checkout_sha with its message", async () => {
    const token = await t.token("acct-gl-doc");
    const repoUrl = `https://gitlab.com/acme/${t.unique("gl-doc")}`;
    const { trigger } = await t.workerWithTrigger(token, { repo_url: repoUrl, production_branch: "master" });
    const res = await send(
      "gitlab",
      gitlabDelivery("Push Hook", gitlabPayload("push", { repoUrl, sha: sha("b") }), trigger.webhook_secret),
    );
    expect(res.status, res.text).toBe(202);
    expect(await buildsOf(trigger.id)).toEqual([
      {
        build_uuid: res.json.result.builds[0].build_uuid,
        commit_hash: sha("b"),
        commit_message: "fixed readme",
        branch: "master",
      },
    ]);
  });

  it("a tag push and a branch deletion are answered 200 and build nothing", async () => {
    const token = await t.token("acct-gl-doc-ignored");
    const repoUrl = `https://gitlab.com/acme/${t.unique("gl-doc")}`;
    const { trigger } = await t.workerWithTrigger(token, { repo_url: repoUrl, production_branch: "master" });
    const tag = gitlabDelivery(
      "Tag Push Hook",
      gitlabPayload("tag-push", { repoUrl }),
      trigger.webhook_secret,
    );
    // GitLab marks a deleted branch with an all-zero `after`, a null checkout_sha and no commits.
    const deleted = {
      ...gitlabPayload("push", { repoUrl }),
      after: sha("0"),
      checkout_sha: null,
      commits: [],
      total_commits_count: 0,
    };
    const tagDeleted = { ...gitlabPayload("tag-push", { repoUrl }), after: sha("0"), checkout_sha: null };
    const cases: [string, unknown, string][] = [
      [
        "Tag Push Hook",
        gitlabPayload("tag-push", { repoUrl }),
        "tag v1.0.0 was pushed: tag pushes do not start builds",
      ],
      ["Tag Push Hook", tagDeleted, "tag v1.0.0 was deleted"],
      ["Push Hook", deleted, "branch master was deleted"],
    ];
    expect(tag.headers["X-Gitlab-Event"]).toBe("Tag Push Hook");
    for (const [event, payload, reason] of cases) {
      const res = await send("gitlab", gitlabDelivery(event, payload, trigger.webhook_secret));
      expect([res.status, res.json.result], reason).toEqual([200, { builds: [], ignored: reason }]);
    }
    expect(await buildsOf(trigger.id)).toEqual([]);
  });
});
