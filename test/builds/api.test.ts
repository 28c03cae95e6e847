/**
 * The Client Worker's REST API over HTTP, on the local target with a real PostgreSQL: exact response
 * shapes, validation that writes nothing, authentication, and tenant isolation.
 */
import { describe, expect, it } from "vitest";
import type { Answer } from "./http";
import { usePlatform } from "./platform";

const t = usePlatform();
const MISSING_BUILD = "7d3c0f43-2a51-4b8e-9b0f-6a1e2c3d4e5f";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SECRET_VALUE = "sup3r-secret-value-that-must-never-leave";

const BUILD_KEYS = [
  "build_outcome",
  "build_uuid",
  "branch",
  "commit_hash",
  "commit_message",
  "created_at",
  "deployment_url",
  "failure_class",
  "initializing_at",
  "preview_url",
  "production",
  "running_at",
  "source",
  "status",
  "stopped_at",
  "trigger_id",
  "worker_id",
];

describe("Workers", () => {
  it("creates a Worker and answers it in the envelope", async () => {
    const token = await t.token("acct-workers");
    const res = await t.call("POST", "/api/workers", { token, body: { name: "site" } });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      success: true,
      errors: [],
      messages: [],
      result: { id: expect.stringMatching(UUID), name: "site", created_at: expect.stringMatching(ISO) },
    });
    const rows = await t.sql("SELECT account_id, name FROM workers WHERE id = $1", [res.json.result.id]);
    expect(rows).toEqual([{ account_id: "acct-workers", name: "site" }]);
    expect(await t.sql("SELECT id FROM accounts WHERE id = 'acct-workers'")).toHaveLength(1);
  });

  it("refuses a duplicate name with 409 and writes nothing", async () => {
    const token = await t.token("acct-dup");
    expect((await t.call("POST", "/api/workers", { token, body: { name: "twice" } })).status).toBe(201);
    const before = await t.counts();
    const res = await t.call("POST", "/api/workers", { token, body: { name: "twice" } });
    expect(res.status).toBe(409);
    expect(res.json.errors).toEqual([
      { code: 1005, message: "a Worker named twice already exists in this account" },
    ]);
    expect(await t.counts()).toEqual(before);
  });

  it("reads a Worker by id and by name", async () => {
    const token = await t.token("acct-read");
    const { result } = (await t.call("POST", "/api/workers", { token, body: { name: "by-both" } })).json;
    expect((await t.call("GET", `/api/workers/${result.id}`, { token })).json.result).toEqual(result);
    expect((await t.call("GET", "/api/workers/by-both", { token })).json.result).toEqual(result);
    const missing = await t.call("GET", "/api/workers/nope", { token });
    expect(missing.status).toBe(404);
    expect(missing.json.errors).toEqual([{ code: 1004, message: "Worker nope not found" }]);
  });

  it("lists Workers newest first, page by page", async () => {
    const token = await t.token("acct-pages");
    for (const name of ["p1", "p2", "p3", "p4", "p5"]) {
      await t.call("POST", "/api/workers", { token, body: { name } });
    }
    const names: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Answer<{ name: string }[]> = await t.call(
        "GET",
        `/api/workers?per_page=2${cursor ? `&cursor=${cursor}` : ""}`,
        { token },
      );
      expect(res.status).toBe(200);
      expect(Object.keys(res.json.result_info!).sort()).toEqual(["count", "cursor", "per_page"]);
      expect(res.json.result_info).toMatchObject({ count: res.json.result.length, per_page: 2 });
      names.push(...res.json.result.map((w) => w.name));
      cursor = res.json.result_info!.cursor;
      pages++;
    } while (cursor !== null);
    expect(names).toEqual(["p5", "p4", "p3", "p2", "p1"]);
    expect(pages).toBe(3);
    const all = await t.call("GET", "/api/workers", { token });
    expect(all.json.result_info).toEqual({ count: 5, per_page: 20, cursor: null });
    // None has built yet.
    expect(all.json.result.map((w: { last_build: unknown }) => w.last_build)).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  it("refuses a tampered cursor with 400", async () => {
    const token = await t.token("acct-pages");
    const first = await t.call("GET", "/api/workers?per_page=1", { token });
    const cursor = first.json.result_info!.cursor!;
    const res = await t.call("GET", `/api/workers?cursor=${cursor.slice(0, -4)}AAAA`, { token });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]!.message).toMatch(/^cursor: /);
  });
});

describe("triggers", () => {
  it("creates a trigger with every field, shows secrets by name only, and seals them", async () => {
    const token = await t.token("acct-trig");
    const worker = (await t.call("POST", "/api/workers", { token, body: { name: "full" } })).json.result;
    const body = {
      repo_url: "https://github.com/acme/full",
      production_branch: "main",
      build_non_production_branches: true,
      build_command: "npm run build",
      deploy_command: "npx wrangler deploy --env prod",
      non_production_deploy_command: "npx wrangler versions upload --env preview",
      root_directory: "apps/site",
      path_includes: ["apps/site/*"],
      path_excludes: ["docs/*"],
      build_caching_enabled: false,
      env_vars: [
        { name: "NODE_ENV", type: "text", value: "production" },
        { name: "API_TOKEN", type: "secret", value: SECRET_VALUE },
      ],
    };
    const res = await t.call("POST", `/api/workers/${worker.id}/triggers`, { token, body });
    expect(res.status).toBe(201);
    const { env_vars: _, ...fields } = body;
    expect(res.json.result).toEqual({
      ...fields,
      id: expect.stringMatching(UUID),
      worker_id: worker.id,
      provider: "github",
      env_vars: [
        { name: "API_TOKEN", type: "secret", value: null },
        { name: "NODE_ENV", type: "text", value: "production" },
      ],
      webhook_url_path: "/webhooks/github",
      status_api_url: "https://api.github.com",
      status_token_set: false,
      webhook_secret: expect.stringMatching(/^[0-9a-f]{64}$/),
      created_at: expect.stringMatching(ISO),
    });
    expect(res.text).not.toContain(SECRET_VALUE);
    const vars = await t.sql<{ name: string; value: string | null; sealed_value: string | null }>(
      "SELECT name, value, sealed_value FROM build_variables WHERE trigger_id = $1 ORDER BY name",
      [res.json.result.id],
    );
    expect(vars[0]).toMatchObject({ name: "API_TOKEN", value: null });
    expect(vars[0]!.sealed_value).toEqual(expect.any(String));
    expect(vars[0]!.sealed_value).not.toContain(SECRET_VALUE);
    expect(Buffer.from(vars[0]!.sealed_value!, "base64url").toString("latin1")).not.toContain(SECRET_VALUE);
    expect(vars[1]).toEqual({ name: "NODE_ENV", value: "production", sealed_value: null });
    const [conn] = await t.sql<{ webhook_secret_sealed: string }>(
      "SELECT webhook_secret_sealed FROM repo_connections WHERE account_id = 'acct-trig'",
    );
    expect(conn!.webhook_secret_sealed).not.toContain(res.json.result.webhook_secret);

    const read = await t.call("GET", `/api/triggers/${res.json.result.id}`, { token });
    const { webhook_secret: __, ...shown } = res.json.result;
    expect(read.json.result).toEqual(shown);
    const list = await t.call("GET", `/api/workers/full/triggers`, { token });
    expect(list.json.result).toEqual([shown]);
    expect(list.json.result_info).toEqual({ count: 1, per_page: 2, cursor: null });
  });

  it("fills in defaults, tells GitLab from the host, and allows two triggers per Worker", async () => {
    const token = await t.token("acct-defaults");
    const worker = (await t.call("POST", "/api/workers", { token, body: { name: "dflt" } })).json.result;
    const path = `/api/workers/${worker.id}/triggers`;
    const first = await t.call("POST", path, {
      token,
      body: { repo_url: "https://gitlab.com/acme/app", production_branch: "main" },
    });
    expect(first.json.result).toMatchObject({
      provider: "gitlab",
      build_non_production_branches: false,
      build_command: null,
      deploy_command: "npx wrangler deploy",
      non_production_deploy_command: "npx wrangler versions upload",
      root_directory: "",
      path_includes: ["*"],
      path_excludes: [],
      build_caching_enabled: true,
      env_vars: [],
      webhook_url_path: "/webhooks/gitlab",
    });
    const second = await t.call("POST", path, {
      token,
      body: { repo_url: "https://gitlab.com/acme/app.git", production_branch: "dev" },
    });
    expect(second.status).toBe(201);
    // The same repository, spelt differently, shares one connection and its webhook secret.
    expect(second.json.result.webhook_secret).toBe(first.json.result.webhook_secret);
    const before = await t.counts();
    const third = await t.call("POST", path, {
      token,
      body: { repo_url: "https://gitlab.com/acme/other", production_branch: "x" },
    });
    expect(third.status).toBe(409);
    expect(third.json.errors[0]!.message).toMatch(/already has 2 triggers/);
    expect(await t.counts()).toEqual(before);
  });

  it("updates a trigger, keeping a secret that is not resent", async () => {
    const token = await t.token("acct-patch");
    const { trigger } = await t.workerWithTrigger(token, {
      env_vars: [
        { name: "KEEP", type: "secret", value: `${SECRET_VALUE}-keep` },
        { name: "DROP", type: "text", value: "x" },
      ],
    });
    const sealed = async () =>
      (
        await t.sql<{ sealed_value: string }>(
          "SELECT sealed_value FROM build_variables WHERE trigger_id = $1 AND name = 'KEEP'",
          [trigger.id],
        )
      )[0]?.sealed_value;
    const kept = await sealed();
    const res = await t.call("PATCH", `/api/triggers/${trigger.id}`, {
      token,
      body: {
        build_command: "make",
        path_excludes: ["README.md"],
        env_vars: [
          { name: "KEEP", type: "secret" },
          { name: "NEW", value: "n" },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.json.result).toMatchObject({
      id: trigger.id,
      build_command: "make",
      path_excludes: ["README.md"],
      production_branch: "main",
      env_vars: [
        { name: "KEEP", type: "secret", value: null },
        { name: "NEW", type: "text", value: "n" },
      ],
    });
    expect(res.json.result).not.toHaveProperty("webhook_secret");
    expect(await sealed()).toBe(kept);

    const before = await t.counts();
    const bad = await t.call("PATCH", `/api/triggers/${trigger.id}`, {
      token,
      body: { build_command: "changed", env_vars: [{ name: "UNKNOWN", type: "secret" }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0]!.message).toBe(
      "env_vars[0].value: no secret named UNKNOWN is stored to keep; send its value",
    );
    expect(await t.counts()).toEqual(before);
    expect((await t.call("GET", `/api/triggers/${trigger.id}`, { token })).json.result.build_command).toBe(
      "make",
    );
  });

  it("deletes a trigger with its variables and hooks, refusing while a build is queued and keeping stopped builds", async () => {
    const token = await t.token("acct-del");
    const idle = (await t.workerWithTrigger(token)).trigger;
    const del = await t.call("DELETE", `/api/triggers/${idle.id}`, { token });
    expect(del.status).toBe(200);
    expect(del.json.result).toEqual({ id: idle.id });
    expect(await t.sql("SELECT id FROM triggers WHERE id = $1", [idle.id])).toEqual([]);
    expect((await t.call("GET", `/api/triggers/${idle.id}`, { token })).status).toBe(404);

    const { worker, trigger: busy } = await t.workerWithTrigger(token, {
      env_vars: [{ name: "API_KEY", type: "secret", value: "s3cret-value" }],
    });
    const hook = await t.call("POST", `/api/triggers/${busy.id}/deploy_hooks`, {
      token,
      body: { name: "nightly" },
    });
    expect(hook.status).toBe(201);
    expect(await t.sql("SELECT 1 FROM build_variables WHERE trigger_id = $1", [busy.id])).toHaveLength(1);
    expect((await t.call("POST", `/api/triggers/${busy.id}/builds`, { token })).status).toBe(201);
    const refused = await t.call("DELETE", `/api/triggers/${busy.id}`, { token });
    expect(refused.status).toBe(409);
    expect(refused.json.errors[0]!.message).toMatch(/has 1 queued or running builds/);
    expect(await t.sql("SELECT id FROM triggers WHERE id = $1", [busy.id])).toHaveLength(1);

    // Once its builds stopped, the trigger goes; they stay in the Worker's history without it.
    const [build] = await t.sql<{ build_uuid: string }>(
      "SELECT build_uuid FROM builds WHERE trigger_id = $1",
      [busy.id],
    );
    await t.call("PUT", `/api/builds/${build!.build_uuid}/cancel`, { token });
    const deleted = await t.call("DELETE", `/api/triggers/${busy.id}`, { token });
    expect(deleted.status).toBe(200);
    expect(await t.sql("SELECT id FROM triggers WHERE id = $1", [busy.id])).toEqual([]);
    const kept = await t.call("GET", `/api/builds/${build!.build_uuid}`, { token });
    expect(kept.status).toBe(200);
    expect(kept.json.result).toMatchObject({
      trigger_id: null,
      status: "stopped",
      build_outcome: "cancelled",
    });
    const list = await t.call("GET", `/api/workers/${worker.id}/builds`, { token });
    expect(list.json.result.map((b: { build_uuid: string }) => b.build_uuid)).toEqual([build!.build_uuid]);
    expect(await t.sql("SELECT 1 FROM build_variables WHERE trigger_id = $1", [busy.id])).toEqual([]);
    expect(await t.sql("SELECT 1 FROM deploy_hooks WHERE trigger_id = $1", [busy.id])).toEqual([]);
  });
});

describe("builds", () => {
  it("queues a build of the production branch, a branch or a commit", async () => {
    const token = await t.token("acct-builds");
    const { worker, trigger } = await t.workerWithTrigger(token);
    const path = `/api/triggers/${trigger.id}/builds`;
    // A Worker with no builds lists none: the Worker is found, its page is empty.
    const none = await t.call("GET", `/api/workers/${worker.id}/builds`, { token });
    expect(none.status).toBe(200);
    expect(none.json.result).toEqual([]);
    expect(none.json.result_info).toEqual({ count: 0, per_page: 20, cursor: null });
    const prod = await t.call("POST", path, { token });
    expect(prod.status).toBe(201);
    expect(Object.keys(prod.json.result).sort()).toEqual([...BUILD_KEYS].sort());
    expect(prod.json.result).toEqual({
      build_uuid: expect.stringMatching(UUID),
      worker_id: worker.id,
      trigger_id: trigger.id,
      status: "queued",
      build_outcome: null,
      failure_class: null,
      branch: "main",
      commit_hash: null,
      commit_message: null,
      production: true,
      source: "api",
      created_at: expect.stringMatching(ISO),
      initializing_at: null,
      running_at: null,
      stopped_at: null,
      deployment_url: null,
      preview_url: null,
    });
    const dev = await t.call("POST", path, { token, body: { branch: "dev" } });
    expect(dev.json.result).toMatchObject({ branch: "dev", production: false, status: "queued" });
    const commit = await t.call("POST", path, { token, body: { commit_hash: "ABCDEF1234567" } });
    expect(commit.json.result).toMatchObject({
      branch: "main",
      commit_hash: "abcdef1234567",
      production: true,
    });

    // Builds asked for through the API are explicit: a newer one of main does not supersede the first.
    const first = await t.call("GET", `/api/builds/${prod.json.result.build_uuid}`, { token });
    expect(first.json.result).toMatchObject({ status: "queued", build_outcome: null, stopped_at: null });
    expect(
      (await t.call("GET", `/api/builds/${dev.json.result.build_uuid}`, { token })).json.result.status,
    ).toBe("queued");

    const list = await t.call("GET", `/api/workers/${worker.name}/builds`, { token });
    expect(list.json.result.map((b: { build_uuid: string }) => b.build_uuid)).toEqual([
      commit.json.result.build_uuid,
      dev.json.result.build_uuid,
      prod.json.result.build_uuid,
    ]);
    expect(list.json.result_info).toEqual({ count: 3, per_page: 20, cursor: null });
    const failed = await t.call("GET", `/api/workers/${worker.name}/builds?status=stopped`, { token });
    expect([failed.status, failed.json.result]).toEqual([200, []]);
    const unknown = await t.call("GET", `/api/workers/${worker.name}-missing/builds`, { token });
    expect([unknown.status, unknown.json.errors[0]!.message]).toEqual([
      404,
      expect.stringContaining(`Worker ${worker.name}-missing`),
    ]);
    const queued = await t.call("GET", `/api/workers/${worker.id}/builds?status=queued&per_page=1`, {
      token,
    });
    expect(queued.json.result).toHaveLength(1);
    expect(queued.json.result[0].build_uuid).toBe(commit.json.result.build_uuid);
    const next = await t.call(
      "GET",
      `/api/workers/${worker.id}/builds?status=queued&per_page=1&cursor=${queued.json.result_info!.cursor}`,
      { token },
    );
    expect(next.json.result.map((b: { build_uuid: string }) => b.build_uuid)).toEqual([
      dev.json.result.build_uuid,
    ]);
    const last = await t.call(
      "GET",
      `/api/workers/${worker.id}/builds?status=queued&per_page=1&cursor=${next.json.result_info!.cursor}`,
      { token },
    );
    expect(last.json.result.map((b: { build_uuid: string }) => b.build_uuid)).toEqual([
      prod.json.result.build_uuid,
    ]);
    expect(last.json.result_info!.cursor).toBeNull();

    const ids = (res: Answer<{ build_uuid: string }[]>) => res.json.result.map((b) => b.build_uuid);
    const devOnly = await t.call("GET", `/api/workers/${worker.id}/builds?branch=dev`, { token });
    expect(ids(devOnly)).toEqual([dev.json.result.build_uuid]);
    const mainQueued = await t.call("GET", `/api/workers/${worker.id}/builds?branch=main&status=queued`, {
      token,
    });
    expect(ids(mainQueued)).toEqual([commit.json.result.build_uuid, prod.json.result.build_uuid]);
    const noBranch = await t.call("GET", `/api/workers/${worker.id}/builds?branch=gone`, { token });
    expect([noBranch.status, noBranch.json.result]).toEqual([200, []]);
    const badBranch = await t.call("GET", `/api/workers/${worker.id}/builds?branch=a..b`, { token });
    expect([badBranch.status, badBranch.json.errors[0]!.message]).toEqual([
      400,
      "branch: must be a valid git branch name",
    ]);

    // The Workers list carries each one's newest build.
    const listed = await t.call("GET", "/api/workers", { token });
    const entry = listed.json.result.find((w: { id: string }) => w.id === worker.id);
    expect(entry.last_build).toEqual(
      (await t.call("GET", `/api/builds/${commit.json.result.build_uuid}`, { token })).json.result,
    );
  });

  it("cancels a queued build once, and a build that never started has finished logs", async () => {
    const token = await t.token("acct-cancel");
    const { trigger } = await t.workerWithTrigger(token);
    const build = (await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token })).json.result;
    const cancel = await t.call("PUT", `/api/builds/${build.build_uuid}/cancel`, { token });
    expect(cancel.status).toBe(200);
    expect(cancel.json.result).toMatchObject({
      build_uuid: build.build_uuid,
      status: "stopped",
      build_outcome: "cancelled",
    });
    const again = await t.call("PUT", `/api/builds/${build.build_uuid}/cancel`, { token });
    expect(again.status).toBe(409);
    expect(again.json.errors[0]!.message).toBe(
      `build ${build.build_uuid} has already stopped (build_outcome: cancelled); nothing to cancel`,
    );

    const logs = await t.call("GET", `/api/builds/${build.build_uuid}/logs`, { token });
    expect(logs.json.result).toEqual({ lines: [], cursor: "0", done: true });
    const stream = await fetch(`${t.platform.api}/api/builds/${build.build_uuid}/logs/stream`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(await stream.text()).toBe(
      'event: done\ndata: {"status":"stopped","build_outcome":"cancelled","failure_class":null}\n\n',
    );
  });

  it("streams a queued build's logs until it is cancelled, then says how it ended", async () => {
    const token = await t.token("acct-stream");
    const { trigger } = await t.workerWithTrigger(token);
    const build = (await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token })).json.result;
    const started = Date.now();
    const stream = await fetch(`${t.platform.api}/api/builds/${build.build_uuid}/logs/stream`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(stream.status).toBe(200);
    await t.call("PUT", `/api/builds/${build.build_uuid}/cancel`, { token });
    const text = await stream.text();
    expect(
      text.endsWith(
        'event: done\ndata: {"status":"stopped","build_outcome":"cancelled","failure_class":null}\n\n',
      ),
    ).toBe(true);
    expect(text).not.toMatch(/event: error/);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);

  it("reads a page of a queued build's logs from the management Worker", async () => {
    const token = await t.token("acct-logs");
    const { trigger } = await t.workerWithTrigger(token);
    const build = (await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token })).json.result;
    const logs = await t.call("GET", `/api/builds/${build.build_uuid}/logs?limit=10`, { token });
    expect(logs.status).toBe(200);
    expect(logs.json.result).toEqual({ lines: [], cursor: expect.any(String), done: false });
    expect((await t.call("GET", `/api/builds/${build.build_uuid}/logs?cursor=abc`, { token })).status).toBe(
      400,
    );
  });

  it("deletes a Worker with its triggers, variables, hooks, builds and their logs, refusing while a build is queued", async () => {
    const token = await t.token("acct-del-worker");
    const { worker, trigger } = await t.workerWithTrigger(token, {
      env_vars: [{ name: "API_KEY", type: "secret", value: "s3cret-value" }],
    });
    await t.call("POST", `/api/triggers/${trigger.id}/deploy_hooks`, { token, body: { name: "nightly" } });
    const build = (await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token })).json.result;
    const refused = await t.call("DELETE", `/api/workers/${worker.name}`, { token });
    expect(refused.status).toBe(409);
    expect(refused.json.errors[0]!.message).toBe(
      `Worker ${worker.name} has 1 queued or running builds; cancel them (PUT /api/builds/:uuid/cancel) first`,
    );
    expect(await t.sql("SELECT 1 FROM builds WHERE worker_id = $1", [worker.id])).toHaveLength(1);

    await t.call("PUT", `/api/builds/${build.build_uuid}/cancel`, { token });
    const buddies = await t.platform.target.mf.getDurableObjectNamespace(
      "BUILD_BUDDY",
      Object.keys(t.platform.target.workers).find((w) => w.endsWith("-builds-management"))!,
    );
    const buddy = buddies.get(buddies.idFromName(build.build_uuid)) as unknown as {
      inspect(): Promise<{ state: unknown; lines: number; alarm: number | null }>;
    };
    expect((await buddy.inspect()).state).toMatchObject({ status: "stopped", outcome: "cancelled" });

    const deleted = await t.call("DELETE", `/api/workers/${worker.id}`, { token });
    expect(deleted.status).toBe(200);
    expect(deleted.json).toMatchObject({
      success: true,
      messages: [],
      result: { id: worker.id, name: worker.name, builds_deleted: 1 },
    });
    expect((await t.call("GET", `/api/workers/${worker.id}`, { token })).status).toBe(404);
    expect((await t.call("GET", `/api/builds/${build.build_uuid}`, { token })).status).toBe(404);
    expect((await t.call("GET", `/api/triggers/${trigger.id}`, { token })).status).toBe(404);
    for (const [table, column, id] of [
      ["workers", "id", worker.id],
      ["triggers", "worker_id", worker.id],
      ["builds", "worker_id", worker.id],
      ["build_variables", "trigger_id", trigger.id],
      ["deploy_hooks", "trigger_id", trigger.id],
    ]) {
      expect(await t.sql(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [id]), table).toEqual([]);
    }
    // The build's BuildBuddy kept its state and log in its own storage: gone too, and nothing is left
    // for the scheduler to retry.
    expect(await buddy.inspect()).toEqual({ state: undefined, lines: 0, alarm: null });
    expect(
      await t.sql("SELECT kind FROM pending_purges WHERE target = ANY($1::uuid[])", [
        [build.build_uuid, worker.id],
      ]),
    ).toEqual([]);
    // The name is free again; a second delete finds nothing.
    expect((await t.call("POST", "/api/workers", { token, body: { name: worker.name } })).status).toBe(201);
    expect((await t.call("DELETE", `/api/workers/${worker.id}`, { token })).status).toBe(404);
  });

  it("retries a stopped build as a new build of the same trigger, branch and commit", async () => {
    const token = await t.token("acct-retry");
    const { worker, trigger } = await t.workerWithTrigger(token);
    const commit = "a".repeat(40);
    const first = (
      await t.call("POST", `/api/triggers/${trigger.id}/builds`, { token, body: { commit_hash: commit } })
    ).json.result;
    const early = await t.call("POST", `/api/builds/${first.build_uuid}/retry`, { token });
    expect(early.status).toBe(409);
    expect(early.json.errors[0]!.message).toBe(
      `build ${first.build_uuid} is queued; only a stopped build can be retried`,
    );
    await t.call("PUT", `/api/builds/${first.build_uuid}/cancel`, { token });

    const retry = await t.call("POST", `/api/builds/${first.build_uuid}/retry`, { token });
    expect(retry.status).toBe(201);
    expect(retry.json.result).toMatchObject({
      worker_id: worker.id,
      trigger_id: trigger.id,
      status: "queued",
      branch: first.branch,
      commit_hash: commit,
      production: true,
      source: "api",
    });
    expect(retry.json.result.build_uuid).not.toBe(first.build_uuid);
    // The first build is left as it was.
    expect(
      (await t.call("GET", `/api/builds/${first.build_uuid}`, { token })).json.result.build_outcome,
    ).toBe("cancelled");

    // Once its trigger is gone, a build cannot be retried.
    await t.call("PUT", `/api/builds/${retry.json.result.build_uuid}/cancel`, { token });
    expect((await t.call("DELETE", `/api/triggers/${trigger.id}`, { token })).status).toBe(200);
    const orphan = await t.call("POST", `/api/builds/${first.build_uuid}/retry`, { token });
    expect(orphan.status).toBe(409);
    expect(orphan.json.errors[0]!.message).toBe(
      `the trigger of build ${first.build_uuid} was deleted; start a build on another trigger`,
    );
    expect((await t.call("POST", `/api/builds/${MISSING_BUILD}/retry`, { token })).status).toBe(404);
  });

  it("leaves what a delete's request could not purge to the scheduler, which retries it after a minute", async () => {
    const management = Object.keys(t.platform.target.workers).find((w) => w.endsWith("-builds-management"))!;
    const schedulers = await t.platform.target.mf.getDurableObjectNamespace("BUILD_SCHEDULER", management);
    const scheduler = schedulers.get(schedulers.idFromName("global")) as unknown as {
      drainPurges(): Promise<{ done: number; failed: number }>;
    };
    const stale = "0badc0de-0000-4000-8000-000000000001";
    const fresh = "0badc0de-0000-4000-8000-000000000002";
    await t.sql(
      `INSERT INTO pending_purges (kind, target, created_at) VALUES
         ('build', $1, clock_timestamp() - interval '5 minutes'), ('cache', $2, clock_timestamp())`,
      [stale, fresh],
    );
    expect(await scheduler.drainPurges()).toEqual({ done: 1, failed: 0 });
    // The fresh row is still its own request's to purge.
    expect(
      await t.sql("SELECT kind, target FROM pending_purges WHERE target = ANY($1::uuid[])", [[stale, fresh]]),
    ).toEqual([{ kind: "cache", target: fresh }]);
    await t.sql("DELETE FROM pending_purges WHERE target = $1", [fresh]);
  });

  it("clears a Worker's build cache", async () => {
    const token = await t.token("acct-cache");
    const { worker } = await t.workerWithTrigger(token);
    const res = await t.call("DELETE", `/api/workers/${worker.id}/build_cache`, { token });
    expect(res.status).toBe(200);
    expect(res.json.result).toEqual({ deleted: 0 });
  });
});

describe("secrets", () => {
  it("never appear in any response of this file", () => {
    expect(t.seen.length).toBeGreaterThan(30);
    for (const text of t.seen) expect(text).not.toContain(SECRET_VALUE);
  });
});
