import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CloudflareApi, startCloudflareApi } from "./api";
import {
  type MigrationStep,
  UploadRefused,
  type WorkerHost,
  type WorkerVersion,
  workersDevSubdomain,
} from "./types";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const OTHER = "fedcba9876543210fedcba9876543210";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A WorkerHost that records what it was asked, and refuses what a test tells it to. */
class RecordingHost implements WorkerHost {
  calls: string[] = [];
  versions: WorkerVersion[] = [];
  refuseCheck: ((v: WorkerVersion) => Error | undefined) | undefined;
  refuseDeploy: ((v: WorkerVersion) => Error | undefined) | undefined;
  async check(v: WorkerVersion) {
    this.calls.push(`check ${v.scriptName} #${v.number}`);
    const error = this.refuseCheck?.(v);
    if (error) throw error;
  }
  async deploy(v: WorkerVersion) {
    this.calls.push(`deploy ${v.scriptName} #${v.number}`);
    this.versions.push(v);
    const error = this.refuseDeploy?.(v);
    if (error) throw error;
  }
  async migrate(_accountId: string, scriptName: string, steps: MigrationStep[]) {
    this.calls.push(`migrate ${scriptName} ${JSON.stringify(steps)}`);
  }
  async preview(v: WorkerVersion) {
    this.calls.push(`preview ${v.scriptName} #${v.number}`);
    this.versions.push(v);
  }
  async dispatch() {
    return new Response("not used", { status: 500 });
  }
  async remove(_accountId: string, scriptName: string) {
    this.calls.push(`remove ${scriptName}`);
  }
  urlOf() {
    return undefined;
  }
  async close() {}
}

interface Envelope {
  success: boolean;
  errors: { code: number; message: string }[];
  messages: unknown[];
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field, as wrangler reads them
  result: any;
  result_info?: unknown;
}

let root: string;
let host: RecordingHost;
let api: CloudflareApi;
let token: string;
let logs: string[];

beforeEach(async () => {
  root = mkdtempSync(path.join(tmpdir(), "cf-api-"));
  host = new RecordingHost();
  logs = [];
  api = await startCloudflareApi({ root, host, log: (line) => logs.push(line) });
  token = await api.tokenFor(ACCOUNT);
});
afterEach(async () => {
  await api.close();
  rmSync(root, { recursive: true, force: true });
});

/** A request as wrangler's fetchResult sends it: under /client/v4, Bearer token, optional query. */
async function call(
  method: string,
  resource: string,
  init: {
    body?: FormData | string;
    json?: unknown;
    query?: Record<string, string>;
    token?: string | null;
  } = {},
): Promise<{ status: number; body: Envelope }> {
  const url = new URL(`${api.url}${resource}`);
  for (const [k, v] of Object.entries(init.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = {};
  const auth = init.token === undefined ? token : init.token;
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  let body = init.body;
  if (init.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, body: (await res.json()) as Envelope };
}
const acct = (rest: string, account = ACCOUNT) => `/accounts/${account}${rest}`;

/** The multipart body wrangler's createWorkerUploadForm builds: `metadata`, then one File per module. */
function workerForm(
  metadata: Record<string, unknown>,
  modules: { name: string; content: string; type?: string }[] = [
    { name: "index.js", content: "export default { fetch() { return new Response('hi') } }" },
  ],
): FormData {
  const form = new FormData();
  form.set("metadata", JSON.stringify(metadata));
  for (const m of modules) {
    form.set(m.name, new File([m.content], m.name, { type: m.type ?? "application/javascript+module" }));
  }
  return form;
}
const baseMetadata = {
  main_module: "index.js",
  bindings: [
    { name: "GREETING", type: "plain_text", text: "hello" },
    { name: "CACHE", type: "kv_namespace", namespace_id: "0123456789abcdef0123456789abcdef" },
  ],
  compatibility_date: "2025-01-01",
  compatibility_flags: ["nodejs_compat"],
};

/** `wrangler deploy` of a new Worker, the calls in FACTS.md's order; answers the version id. */
async function firstDeploy(
  name = "hello",
  metadata: Record<string, unknown> = baseMetadata,
): Promise<string> {
  expect((await call("GET", acct(`/workers/services/${name}`))).body.errors[0]?.code).toBe(10007);
  expect((await call("GET", acct(`/workers/scripts/${name}/deployments`))).status).toBe(404);
  expect((await call("GET", acct(`/workers/scripts/${name}/settings`))).status).toBe(404);
  const put = await call("PUT", acct(`/workers/scripts/${name}`), {
    body: workerForm(metadata),
    query: { excludeScript: "true", bindings_inherit: "strict" },
  });
  expect(put.status, JSON.stringify(put.body.errors)).toBe(200);
  return put.body.result.deployment_id;
}

async function versionCount(name = "hello"): Promise<number> {
  const res = await call("GET", acct(`/workers/scripts/${name}/versions`));
  return res.status === 404 ? 0 : res.body.result.items.length;
}

describe("wrangler deploy of a new Worker", () => {
  it("answers each call of the sequence with the fields wrangler reads, and deploys version 1", async () => {
    const services = await call("GET", acct("/workers/services/hello"));
    expect(services).toEqual({
      status: 404,
      body: {
        success: false,
        errors: [{ code: 10007, message: "This Worker does not exist on your account." }],
        messages: [],
        result: null,
      },
    });
    expect((await call("GET", acct("/workers/scripts/hello/deployments"))).body.errors[0]?.code).toBe(10007);
    expect((await call("GET", acct("/workers/scripts/hello/settings"))).body.errors[0]?.code).toBe(10007);

    const put = await call("PUT", acct("/workers/scripts/hello"), {
      body: workerForm(baseMetadata),
      query: { excludeScript: "true", bindings_inherit: "strict" },
    });
    expect(put.status).toBe(200);
    expect(put.body.success).toBe(true);
    const { result } = put.body;
    expect(result.deployment_id).toMatch(UUID);
    expect(result).toMatchObject({ id: "hello", has_modules: true, compatibility_date: "2025-01-01" });
    expect(typeof result.startup_time_ms).toBe("number");
    expect(result.etag).toMatch(/^[0-9a-f]{64}$/);

    const subdomain = await call("GET", acct("/workers/subdomain"));
    expect(subdomain.body.result).toEqual({ subdomain: workersDevSubdomain(ACCOUNT) });
    const before = await call("GET", acct("/workers/scripts/hello/subdomain"));
    expect(before.body.result).toEqual({ enabled: false, previews_enabled: true });
    const after = await call("POST", acct("/workers/scripts/hello/subdomain"), { json: { enabled: true } });
    expect(after.body.result).toEqual({ enabled: true, previews_enabled: true });

    expect(host.calls).toEqual(["check hello #1", "deploy hello #1"]);
    const deployed = host.versions[0]!;
    expect(deployed).toMatchObject({
      id: result.deployment_id,
      accountId: ACCOUNT,
      scriptName: "hello",
      number: 1,
      mainModule: "index.js",
      compatibilityDate: "2025-01-01",
      compatibilityFlags: ["nodejs_compat"],
      bindings: baseMetadata.bindings,
      durableObjectClasses: [],
      migrationTag: undefined,
      hasPreview: true,
    });
    expect(deployed.modules).toEqual([
      {
        name: "index.js",
        type: "esm",
        path: path.join(
          root,
          "accounts",
          ACCOUNT,
          "scripts",
          "hello",
          "versions",
          deployed.id,
          "modules",
          "index.js",
        ),
      },
    ]);
    expect(logs).toContain(`cloudflare api: deployed hello version ${deployed.id} (account ${ACCOUNT})`);
  });
});

describe("a later wrangler deploy (versions, then a deployment)", () => {
  it("inherits a binding, answers id and resources.script.etag, and moves the deployment to the new version", async () => {
    const first = await firstDeploy();
    const services = await call("GET", acct("/workers/services/hello"));
    expect(services.body.result.default_environment.script).toMatchObject({
      id: "hello",
      last_deployed_from: "wrangler",
      tags: [],
    });
    expect(services.body.result.default_environment.script.tag).toMatch(/^[0-9a-f]{32}$/);
    const deployments = await call("GET", acct("/workers/scripts/hello/deployments"));
    expect(deployments.body.result.deployments.map((d: { versions: unknown }) => d.versions)).toEqual([
      [{ version_id: first, percentage: 100 }],
    ]);
    const settings = await call("GET", acct("/workers/scripts/hello/settings"));
    expect(settings.body.result.bindings).toEqual(baseMetadata.bindings);

    const upload = await call("POST", acct("/workers/scripts/hello/versions"), {
      body: workerForm({ ...baseMetadata, bindings: [{ name: "CACHE", type: "inherit" }] }),
      query: { bindings_inherit: "strict" },
    });
    expect(upload.status, JSON.stringify(upload.body.errors)).toBe(200);
    const second: string = upload.body.result.id;
    expect(second).toMatch(UUID);
    expect(upload.body.result.number).toBe(2);
    expect(upload.body.result.resources.script.etag).toMatch(/^[0-9a-f]{64}$/);
    expect(upload.body.result.resources.bindings).toEqual([baseMetadata.bindings[1]]);

    const deploy = await call("POST", acct("/workers/scripts/hello/deployments"), {
      json: { strategy: "percentage", versions: [{ version_id: second, percentage: 100 }], annotations: {} },
    });
    expect(deploy.status).toBe(200);
    expect(deploy.body.result.versions).toEqual([{ version_id: second, percentage: 100 }]);
    const patch = await call("PATCH", acct("/workers/scripts/hello/script-settings"), {
      json: { tail_consumers: undefined, logpush: false, observability: { enabled: false }, tags: [] },
    });
    expect(patch.body.result).toMatchObject({ logpush: false, observability: { enabled: false }, tags: [] });
    expect((await call("GET", acct("/workers/scripts/hello/subdomain"))).body.result).toEqual({
      enabled: false,
      previews_enabled: true,
    });

    expect(host.calls).toEqual([
      "check hello #1",
      "deploy hello #1",
      "check hello #2",
      "preview hello #2",
      "deploy hello #2",
    ]);
    const now = await call("GET", acct("/workers/scripts/hello/deployments"));
    expect(now.body.result.deployments[0].versions).toEqual([{ version_id: second, percentage: 100 }]);
    expect(now.body.result.deployments).toHaveLength(2);
    expect(host.versions.at(-1)?.bindings).toEqual([baseMetadata.bindings[1]]);
  });
});

describe("wrangler versions upload", () => {
  it("keeps the kept binding types, records annotations, previews the version and leaves the deployment alone", async () => {
    const first = await firstDeploy("hello", {
      ...baseMetadata,
      bindings: [...baseMetadata.bindings, { name: "API_KEY", type: "secret_text", text: "s3cret" }],
    });
    const settings = await call("GET", acct("/workers/scripts/hello/settings"));
    expect(settings.body.result.bindings).toContainEqual({ name: "API_KEY", type: "secret_text" });

    const upload = await call("POST", acct("/workers/scripts/hello/versions"), {
      body: workerForm({
        ...baseMetadata,
        keep_bindings: ["secret_text", "secret_key"],
        annotations: { "workers/message": "from main", "workers/alias": "feature-x" },
      }),
      query: { bindings_inherit: "strict" },
    });
    expect(upload.status, JSON.stringify(upload.body.errors)).toBe(200);
    expect(upload.body.result.metadata.has_preview).toBe(true);
    expect(upload.body.result.annotations).toEqual({
      "workers/message": "from main",
      "workers/alias": "feature-x",
    });
    expect(upload.body.result.resources.bindings).toContainEqual({ name: "API_KEY", type: "secret_text" });

    const previewed = host.versions.at(-1)!;
    expect(host.calls.at(-1)).toBe("preview hello #2");
    expect(previewed.annotations["workers/alias"]).toBe("feature-x");
    expect(previewed.bindings).toContainEqual({ name: "API_KEY", type: "secret_text", text: "s3cret" });
    const deployments = await call("GET", acct("/workers/scripts/hello/deployments"));
    expect(deployments.body.result.deployments[0].versions).toEqual([{ version_id: first, percentage: 100 }]);
    const listed = await call("GET", acct("/workers/scripts/hello/versions"));
    expect(listed.body.result.items.map((v: { number: number }) => v.number)).toEqual([2, 1]);
    const one = await call("GET", acct(`/workers/scripts/hello/versions/${upload.body.result.id}`));
    expect(one.body.result.metadata.created_on).toBe(previewed.createdOn);
  });

  it("answers has_preview false for a Worker with Durable Objects, and does not preview it", async () => {
    await call("PUT", acct("/workers/scripts/rooms"), {
      body: workerForm({
        ...baseMetadata,
        bindings: [{ name: "ROOM", type: "durable_object_namespace", class_name: "Room" }],
        migrations: { new_tag: "v1", new_sqlite_classes: ["Room"] },
      }),
    });
    const upload = await call("POST", acct("/workers/scripts/rooms/versions"), {
      body: workerForm({ ...baseMetadata, bindings: [{ name: "ROOM", type: "inherit" }] }),
    });
    expect(upload.body.result.metadata.has_preview).toBe(false);
    expect(host.calls).toEqual([
      "check rooms #1",
      `migrate rooms ${JSON.stringify([{ new_sqlite_classes: ["Room"] }])}`,
      "deploy rooms #1",
      "check rooms #2",
    ]);
    expect(host.versions[0]).toMatchObject({
      durableObjectClasses: [{ className: "Room", sqlite: true }],
      migrationTag: "v1",
      hasPreview: false,
    });
  });
});

describe("Durable Object migrations", () => {
  it("applies the steps after the current tag and renames classes", async () => {
    await call("PUT", acct("/workers/scripts/rooms"), {
      body: workerForm({
        ...baseMetadata,
        bindings: [{ name: "ROOM", type: "durable_object_namespace", class_name: "Room" }],
        migrations: { new_tag: "v1", steps: [{ new_sqlite_classes: ["Room"] }] },
      }),
    });
    const scripts = await call("GET", acct("/workers/scripts"));
    expect(
      scripts.body.result.map((s: { id: string; migration_tag: string }) => [s.id, s.migration_tag]),
    ).toEqual([["rooms", "v1"]]);
    const steps = [{ renamed_classes: [{ from: "Room", to: "Lobby" }] }];
    const put = await call("PUT", acct("/workers/scripts/rooms"), {
      body: workerForm({
        ...baseMetadata,
        bindings: [{ name: "LOBBY", type: "durable_object_namespace", class_name: "Lobby" }],
        migrations: { old_tag: "v1", new_tag: "v2", steps },
      }),
    });
    expect(put.status, JSON.stringify(put.body.errors)).toBe(200);
    expect(put.body.result.migration_tag).toBe("v2");
    expect(host.calls.slice(-3)).toEqual([
      "check rooms #2",
      `migrate rooms ${JSON.stringify(steps)}`,
      "deploy rooms #2",
    ]);
    expect(host.versions.at(-1)?.durableObjectClasses).toEqual([{ className: "Lobby", sqlite: true }]);
  });
});

describe("deploying a stored version across migration tags", () => {
  it("applies a version's own migrations when it is deployed, and refuses a rollback past a migration", async () => {
    const first = await firstDeploy("rooms", { ...baseMetadata, bindings: [] });
    const steps = [{ new_sqlite_classes: ["Room"] }];
    const upload = await call("POST", acct("/workers/scripts/rooms/versions"), {
      body: workerForm({
        ...baseMetadata,
        bindings: [{ name: "ROOM", type: "durable_object_namespace", class_name: "Room" }],
        migrations: { new_tag: "v1", steps },
      }),
    });
    expect(upload.status, JSON.stringify(upload.body.errors)).toBe(200);
    const deploy = await call("POST", acct("/workers/scripts/rooms/deployments"), {
      json: { strategy: "percentage", versions: [{ version_id: upload.body.result.id, percentage: 100 }] },
    });
    expect(deploy.status, JSON.stringify(deploy.body.errors)).toBe(200);
    expect(host.calls.slice(-2)).toEqual([`migrate rooms ${JSON.stringify(steps)}`, "deploy rooms #2"]);

    const rollback = await call("POST", acct("/workers/scripts/rooms/deployments"), {
      json: { strategy: "percentage", versions: [{ version_id: first, percentage: 100 }] },
    });
    expect(rollback.status).toBe(400);
    expect(rollback.body.errors[0]).toEqual({
      code: 10079,
      message: `version ${first} was made for migration tag null, but the script's current migration tag is "v1": upload a new version with the migrations between them`,
    });
    expect(host.calls.at(-1)).toBe("deploy rooms #2");
  });
});

describe("uploads the stand-in refuses: a 4xx envelope, and nothing stored", () => {
  const raw = (contentType: string, text: string) => ({ contentType, text });
  const cases: {
    why: string;
    body: () => FormData | { contentType: string; text: string };
    status: number;
    code: number;
    message: RegExp;
  }[] = [
    {
      why: "a body that is not multipart",
      body: () => raw("application/json", "{}"),
      status: 400,
      code: 10012,
      message: /must be multipart\/form-data/,
    },
    {
      why: "a broken multipart body",
      body: () => raw("multipart/form-data; boundary=xyz", "--xyz\r\ngarbage"),
      status: 400,
      code: 10012,
      message: /multipart body could not be read/,
    },
    {
      why: "no metadata part",
      body: () => {
        const form = workerForm(baseMetadata);
        form.delete("metadata");
        return form;
      },
      status: 400,
      code: 10012,
      message: /no "metadata" part/,
    },
    {
      why: "metadata that is not JSON",
      body: () => {
        const form = workerForm(baseMetadata);
        form.set("metadata", "{nope");
        return form;
      },
      status: 400,
      code: 10012,
      message: /"metadata" part is not JSON/,
    },
    {
      why: "a service-worker upload (body_part)",
      body: () => workerForm({ body_part: "index.js", bindings: [] }),
      status: 400,
      code: 10021,
      message: /service-worker uploads .* not run by the stand-in/,
    },
    {
      why: "a main module that is not among the parts",
      body: () => workerForm({ ...baseMetadata, main_module: "worker.js" }),
      status: 400,
      code: 10021,
      message: /main_module "worker.js" is not among the uploaded parts \(index.js\)/,
    },
    ...["../escape.js", "/etc/passwd", "lib//x.js", "lib/./x.js"].map((name) => ({
      why: `module name ${name}`,
      body: () =>
        workerForm(baseMetadata, [
          { name: "index.js", content: "export default {}" },
          { name, content: "x" },
        ]),
      status: 400,
      code: 10021,
      message: new RegExp(`module name "${name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}" is not valid`),
    })),
    {
      why: "a module that is both a file and a folder",
      body: () =>
        workerForm(baseMetadata, [
          { name: "index.js", content: "export default {}" },
          { name: "lib", content: "x" },
          { name: "lib/x.js", content: "x" },
        ]),
      status: 400,
      code: 10021,
      message: /module name "lib\/x.js" clashes with another module/,
    },
    {
      why: "a content type the stand-in does not run",
      body: () =>
        workerForm(baseMetadata, [
          { name: "index.js", content: "export default {}" },
          { name: "main.py", content: "x", type: "text/x-python" },
        ]),
      status: 400,
      code: 10021,
      message: /module "main.py" has content type "text\/x-python"/,
    },
    {
      why: "a binding type the host's check refuses",
      body: () => workerForm({ ...baseMetadata, bindings: [{ name: "AI", type: "ai" }] }),
      status: 400,
      code: 10054,
      message: /^binding AI of type ai is not supported here$/,
    },
    {
      why: "an inherit binding without a previous version",
      body: () => workerForm({ ...baseMetadata, bindings: [{ name: "CACHE", type: "inherit" }] }),
      status: 400,
      code: 10054,
      message: /binding "CACHE" is of type "inherit", but the script has no previous version/,
    },
    {
      why: "migrations whose old_tag is not the script's tag",
      body: () =>
        workerForm({ ...baseMetadata, migrations: { old_tag: "v3", new_tag: "v4", new_classes: ["A"] } }),
      status: 400,
      code: 10079,
      message: /old_tag is "v3", but the script's current migration tag is none/,
    },
    {
      why: "a Durable Object binding to a class no migration declares",
      body: () =>
        workerForm({
          ...baseMetadata,
          bindings: [{ name: "ROOM", type: "durable_object_namespace", class_name: "Room" }],
        }),
      status: 400,
      code: 10061,
      message:
        /binding "ROOM" refers to Durable Object class "Room", which this script's migrations do not declare/,
    },
    {
      why: "transferred classes",
      body: () =>
        workerForm({
          ...baseMetadata,
          migrations: { new_tag: "v1", transferred_classes: [{ from: "A", from_script: "x", to: "B" }] },
        }),
      status: 400,
      code: 10074,
      message: /transferred_classes .* not supported/,
    },
    ...(
      [
        [
          "a class name that climbs out of its folder",
          { new_tag: "v1", new_classes: ["/../../../victim"] },
          /migrations\.new_classes\[0\]: "\/\.\.\/\.\.\/\.\.\/victim" is not a class name/,
        ],
        [
          "a deleted class name with a slash",
          { new_tag: "v1", steps: [{ deleted_classes: ["a/b"] }] },
          /steps\[0\]\.deleted_classes\[0\]: "a\/b" is not a class name/,
        ],
        [
          "a rename to a non-identifier",
          { new_tag: "v1", renamed_classes: [{ from: "A", to: ".." }] },
          /renamed_classes\[0\]\.to: "\.\." is not a class name/,
        ],
        [
          "class names given as a string",
          { new_tag: "v1", new_classes: "Ab" },
          /new_classes must be a list of class names/,
        ],
        ["steps that are not a list", { new_tag: "v1", steps: {} }, /steps must be a list/],
        [
          "a rename that is not an object",
          { new_tag: "v1", renamed_classes: [null] },
          /renamed_classes\[0\] must be an object/,
        ],
        ["a tag that is not a string", { new_tag: 5 }, /new_tag must be a string/],
      ] as const
    ).map(([what, migrations, message]) => ({
      why: `migrations with ${what}`,
      body: () => workerForm({ ...baseMetadata, migrations }),
      status: 400,
      code: 10074,
      message,
    })),
  ];

  it.each(cases)("refuses $why", async ({ body, status, code, message }) => {
    host.refuseCheck = (v) =>
      v.bindings.some((b) => b.type === "ai")
        ? new UploadRefused("binding AI of type ai is not supported here", 10054)
        : undefined;
    for (const route of ["PUT /workers/scripts/hello", "POST /workers/scripts/hello/versions"]) {
      const [method, resource] = route.split(" ") as [string, string];
      const made = body();
      const res =
        made instanceof FormData
          ? await call(method, acct(resource), { body: made })
          : await fetch(`${api.url}${acct(resource)}`, {
              method,
              headers: { authorization: `Bearer ${token}`, "content-type": made.contentType },
              body: made.text,
            }).then(async (r) => ({ status: r.status, body: (await r.json()) as Envelope }));
      expect(res.status, route).toBe(status);
      expect(res.body.success).toBe(false);
      expect(res.body.errors[0]?.code, route).toBe(code);
      expect(res.body.errors[0]?.message, route).toMatch(message);
    }
    expect(await versionCount()).toBe(0);
    expect((await call("GET", acct("/workers/services/hello"))).status).toBe(404);
    expect(host.calls.filter((c) => !c.startsWith("check"))).toEqual([]);
    const versionsDir = path.join(root, "accounts", ACCOUNT, "scripts", "hello", "versions");
    expect(existsSync(versionsDir) ? readdirSync(versionsDir) : []).toEqual([]);
  });

  it("refuses an inherit binding the previous version does not have, and keeps version 1 only", async () => {
    await firstDeploy();
    const res = await call("POST", acct("/workers/scripts/hello/versions"), {
      body: workerForm({ ...baseMetadata, bindings: [{ name: "DB", type: "inherit" }] }),
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]?.message).toMatch(/previous version \(.*\) has no binding named "DB"/);
    expect(await versionCount()).toBe(1);
  });

  it("refuses an invalid Worker name with Cloudflare's rule", async () => {
    const res = await call("PUT", acct("/workers/scripts/Hello_World!"), { body: workerForm(baseMetadata) });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]?.code).toBe(10016);
    expect(res.body.errors[0]?.message).toMatch(/lowercase letters .* at most 63 characters/);
  });

  it("answers 413 for a body over 64 MiB", async () => {
    const big = new Uint8Array(64 * 1024 * 1024 + 1);
    const form = workerForm(baseMetadata);
    form.set("blob.bin", new File([big], "blob.bin", { type: "application/octet-stream" }));
    const res = await call("PUT", acct("/workers/scripts/hello"), { body: form });
    expect(res.status).toBe(413);
    expect(res.body.errors[0]?.code).toBe(10027);
    expect(await versionCount()).toBe(0);
  });
});

describe("authentication", () => {
  it.each([
    { why: "no token", auth: null },
    { why: "another account's token", auth: "other" },
    { why: "a made-up token", auth: "cfl_nope" },
  ])("refuses $why with 403 and changes nothing", async ({ auth }) => {
    await firstDeploy();
    const used = auth === "other" ? await api.tokenFor(OTHER) : auth;
    const attempts = [
      call("PUT", acct("/workers/scripts/hello"), { body: workerForm(baseMetadata), token: used }),
      call("POST", acct("/storage/kv/namespaces"), { json: { title: "x" }, token: used }),
      call("DELETE", acct("/workers/scripts/hello"), { token: used }),
      call("GET", acct("/workers/services/hello"), { token: used }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res).toEqual({
        status: 403,
        body: {
          success: false,
          errors: [{ code: 10000, message: "Authentication error" }],
          messages: [],
          result: null,
        },
      });
    }
    expect(await versionCount()).toBe(1);
    expect((await call("GET", acct("/storage/kv/namespaces"))).body.result).toEqual([]);
    expect(host.calls).toEqual(["check hello #1", "deploy hello #1"]);
  });

  it("gives each account its own token, which works for that account only", async () => {
    const other = await api.tokenFor(OTHER);
    expect(other).not.toBe(token);
    expect((await call("GET", acct("/workers/subdomain", OTHER), { token: other })).body.result).toEqual({
      subdomain: workersDevSubdomain(OTHER),
    });
  });
});

describe("routes", () => {
  it("answers an unknown route with Cloudflare's 7003", async () => {
    const res = await call("GET", acct("/workers/scripts/hello/tails"));
    expect(res).toEqual({
      status: 404,
      body: {
        success: false,
        errors: [
          {
            code: 7003,
            message: `Could not route to /client/v4/accounts/${ACCOUNT}/workers/scripts/hello/tails, perhaps your object identifier is invalid?`,
          },
        ],
        messages: [],
        result: null,
      },
    });
    expect((await call("GET", "/memberships")).body.errors[0]?.code).toBe(7003);
  });

  it("lists and creates KV namespaces, pages them and refuses a duplicate title", async () => {
    const ids: string[] = [];
    for (const title of ["c", "a", "b"]) {
      const res = await call("POST", acct("/storage/kv/namespaces"), { json: { title } });
      expect(res.body.result.title).toBe(title);
      expect(res.body.result.id).toMatch(/^[0-9a-f]{32}$/);
      ids.push(res.body.result.id);
    }
    const dup = await call("POST", acct("/storage/kv/namespaces"), { json: { title: "a" } });
    expect(dup.status).toBe(400);
    expect(dup.body.errors[0]?.code).toBe(10014);
    const page = await call("GET", acct("/storage/kv/namespaces"), {
      query: { per_page: "2", page: "2", order: "title", direction: "asc" },
    });
    expect(page.body.result).toEqual([{ id: ids[0], title: "c", supports_url_encoding: true }]);
    expect(page.body.result_info).toEqual({ page: 2, per_page: 2, count: 1, total_count: 3, total_pages: 2 });
    const all = await call("GET", acct("/storage/kv/namespaces"), { query: { per_page: "100" } });
    expect(all.body.result.map((ns: { title: string }) => ns.title)).toEqual(["a", "b", "c"]);
  });

  it("refuses a deployment of two versions, or percentages that do not add up to 100", async () => {
    const first = await firstDeploy();
    const table = [
      {
        versions: [
          { version_id: first, percentage: 50 },
          { version_id: first, percentage: 50 },
        ],
        message: /one version at a time/,
      },
      { versions: [{ version_id: first, percentage: 90 }], message: /add up to 100 \(got 90\)/ },
      { versions: [{ version_id: "nope", percentage: 100 }], message: /version "nope" does not exist/ },
    ];
    for (const { versions, message } of table) {
      const res = await call("POST", acct("/workers/scripts/hello/deployments"), {
        json: { strategy: "percentage", versions },
      });
      expect(res.status).toBe(400);
      expect(res.body.errors[0]?.message).toMatch(message);
    }
    expect(
      (await call("GET", acct("/workers/scripts/hello/deployments"))).body.result.deployments,
    ).toHaveLength(1);
  });

  it("patches settings as JSON (script-settings) or as a multipart settings part (settings), and refuses bindings there", async () => {
    await firstDeploy();
    const json = await call("PATCH", acct("/workers/scripts/hello/script-settings"), {
      json: { logpush: true, tags: ["a"], tail_consumers: [{ service: "tail" }] },
    });
    expect(json.body.result).toMatchObject({
      logpush: true,
      tags: ["a"],
      tail_consumers: [{ service: "tail" }],
    });
    const form = new FormData();
    form.set("settings", JSON.stringify({ observability: { enabled: true } }));
    const multipart = await call("PATCH", acct("/workers/scripts/hello/settings"), { body: form });
    expect(multipart.body.result).toMatchObject({ logpush: true, observability: { enabled: true } });
    expect(multipart.body.result.bindings).toEqual(baseMetadata.bindings);
    const bindings = await call("PATCH", acct("/workers/scripts/hello/settings"), { json: { bindings: [] } });
    expect(bindings.status).toBe(400);
    expect(bindings.body.errors[0]?.message).toMatch(/"bindings" belongs to a version on the stand-in/);
    const services = await call("GET", acct("/workers/services/hello"));
    expect(services.body.result.default_environment.script.tags).toEqual(["a"]);
  });

  it("sets workers.dev and preview URLs apart when both are given", async () => {
    await firstDeploy();
    const res = await call("POST", acct("/workers/scripts/hello/subdomain"), {
      json: { enabled: true, previews_enabled: false },
    });
    expect(res.body.result).toEqual({ enabled: true, previews_enabled: false });
    expect((await call("GET", acct("/workers/scripts/hello/subdomain"))).body.result).toEqual({
      enabled: true,
      previews_enabled: false,
    });
  });

  it("numbers concurrent uploads one after the other", async () => {
    await firstDeploy();
    const results = await Promise.all(
      [1, 2, 3].map(() =>
        call("POST", acct("/workers/scripts/hello/versions"), { body: workerForm(baseMetadata) }),
      ),
    );
    expect(results.map((r) => r.body.result.number).sort()).toEqual([2, 3, 4]);
    expect(
      (await call("GET", acct("/workers/scripts/hello/versions/00000000-0000-4000-8000-000000000000")))
        .status,
    ).toBe(404);
  });

  it("deletes a Worker through the host", async () => {
    await firstDeploy();
    expect((await call("DELETE", acct("/workers/scripts/hello"))).status).toBe(200);
    expect(host.calls.at(-1)).toBe("remove hello");
    expect((await call("GET", acct("/workers/services/hello"))).body.errors[0]?.code).toBe(10007);
  });
});

describe("a host whose deploy fails", () => {
  it("leaves the previous deployment current and records no version (PUT)", async () => {
    const first = await firstDeploy();
    host.refuseDeploy = () => new Error("the Worker threw at startup: boom");
    const res = await call("PUT", acct("/workers/scripts/hello"), { body: workerForm(baseMetadata) });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ code: 10021, message: "the Worker threw at startup: boom" }]);
    const deployments = await call("GET", acct("/workers/scripts/hello/deployments"));
    expect(
      deployments.body.result.deployments.map(
        (d: { versions: { version_id: string }[] }) => d.versions[0]?.version_id,
      ),
    ).toEqual([first]);
    expect(await versionCount()).toBe(1);
    expect(readdirSync(path.join(root, "accounts", ACCOUNT, "scripts", "hello", "versions"))).toEqual([
      first,
    ]);
  });

  it("leaves the previous deployment current (POST deployments)", async () => {
    const first = await firstDeploy();
    const upload = await call("POST", acct("/workers/scripts/hello/versions"), {
      body: workerForm(baseMetadata),
    });
    host.refuseDeploy = () => new UploadRefused("no room", 10021);
    const res = await call("POST", acct("/workers/scripts/hello/deployments"), {
      json: { strategy: "percentage", versions: [{ version_id: upload.body.result.id, percentage: 100 }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ code: 10021, message: "no room" }]);
    const deployments = await call("GET", acct("/workers/scripts/hello/deployments"));
    expect(deployments.body.result.deployments[0].versions).toEqual([{ version_id: first, percentage: 100 }]);
  });
});

describe("a restart", () => {
  it("keeps state and tokens, and hands the deployed version and the newest previews to the new host", async () => {
    const first = await firstDeploy();
    const upload = await call("POST", acct("/workers/scripts/hello/versions"), {
      body: workerForm(baseMetadata),
    });
    await call("POST", acct("/storage/kv/namespaces"), { json: { title: "kept" } });
    await api.close();
    expect(statSync(path.join(root, "token-secret")).mode & 0o777).toBe(0o600);

    host = new RecordingHost();
    host.refuseDeploy = () => undefined;
    api = await startCloudflareApi({ root, host, log: (line) => logs.push(line) });
    expect(await api.tokenFor(ACCOUNT)).toBe(token);
    expect(host.calls).toEqual(["deploy hello #1", "preview hello #2", "preview hello #1"]);
    expect(host.versions[0]?.id).toBe(first);
    expect(logs).toContain(`cloudflare api: restored hello version ${first} (account ${ACCOUNT})`);
    expect(await versionCount()).toBe(2);
    const one = await call("GET", acct(`/workers/scripts/hello/versions/${upload.body.result.id}`));
    expect(one.body.result.number).toBe(2);
    expect(
      (await call("GET", acct("/storage/kv/namespaces"))).body.result.map((n: { title: string }) => n.title),
    ).toEqual(["kept"]);
  });

  it("logs a version the new host cannot start, and serves the API anyway", async () => {
    await firstDeploy();
    await api.close();
    host = new RecordingHost();
    host.refuseDeploy = () => new Error("workerd is gone");
    api = await startCloudflareApi({ root, host, log: (line) => logs.push(line) });
    expect(logs.some((l) => /could not restore hello version .*: workerd is gone/.test(l))).toBe(true);
    expect((await call("GET", acct("/workers/services/hello"))).status).toBe(200);
  });
});
