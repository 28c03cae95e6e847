import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  cloudflareApiToken,
  verifyCloudflareApiToken,
} from "../../workers-src/builds/shared/cloudflare-token";
import {
  applyMigrations,
  checkDurableObjectBindings,
  MAX_UPLOAD_BYTES,
  migrationSteps,
  type ParsedUpload,
  parseUploadForm,
  resolveBindings,
} from "./multipart";
import { tokenSecret } from "./secret";
import {
  CloudflareApiError,
  CloudflareStore,
  checkAccountId,
  checkScriptName,
  type Deployment,
  type ScriptRecord,
  type ScriptSettings,
  type StoredVersion,
} from "./store";
import {
  type UploadBinding,
  UploadRefused,
  type WorkerHost,
  type WorkerVersion,
  workersDevSubdomain,
} from "./types";

export interface CloudflareApiOptions {
  /** The stand-in's folder: `token-secret` and the store (`accounts/`). */
  root: string;
  host: WorkerHost;
  log: (line: string) => void;
  /** @default 0 (any free port) */
  port?: number;
}

export interface CloudflareApi {
  /** `http://127.0.0.1:<port>/client/v4`, what `CLOUDFLARE_API_BASE_URL` is set to. */
  url: string;
  port: number;
  /** The token that authenticates requests for `accountId` (and no other account). */
  tokenFor(accountId: string): Promise<string>;
  close(): Promise<void>;
}

/** Previewable versions per script handed to `host.preview` again on start. */
const PREVIEWS_RESTORED = 3;
/** Deployments kept per script. */
const DEPLOYMENTS_KEPT = 50;
const MAX_JSON_BYTES = 1024 * 1024;

const notFoundScript = () =>
  new CloudflareApiError(404, 10007, "This Worker does not exist on your account.");

/** A host's refusal as the API answers it: Cloudflare's code when it gave one, 10021 otherwise. */
function refusal(error: unknown): CloudflareApiError {
  if (error instanceof CloudflareApiError) return error;
  if (error instanceof UploadRefused) return new CloudflareApiError(400, error.code, error.message);
  return new CloudflareApiError(400, 10021, error instanceof Error ? error.message : String(error));
}

/** Bindings as Cloudflare answers them: secrets without their text. */
function publicBindings(bindings: UploadBinding[]) {
  return bindings.map((b) => (b.type === "secret_text" ? { type: b.type, name: b.name } : b));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () =>
      new CloudflareApiError(413, 10027, `the request body is larger than ${limit} bytes`);
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so that the client gets the 413 and not a reset;
      // far past it, the connection is cut.
      if (size <= limit) chunks.push(chunk);
      else if (size > 4 * limit) req.destroy();
    });
    req.on("end", () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
    req.on("close", () => {
      if (!req.complete) reject(size > limit ? tooLarge() : new Error("the client closed the connection"));
    });
    req.on("error", reject);
  });
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req, MAX_JSON_BYTES);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new CloudflareApiError(400, 10012, `the request body is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CloudflareApiError(400, 10012, "the request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

interface Call {
  req: IncomingMessage;
  url: URL;
  account: string;
  params: Record<string, string>;
}
type Handler = (call: Call) => Promise<unknown>;

/** A page of a list: answered with Cloudflare's `result_info` beside the result. */
class Paged {
  constructor(
    readonly result: unknown[],
    readonly info: {
      page: number;
      per_page: number;
      count: number;
      total_count: number;
      total_pages: number;
    },
  ) {}
}

/**
 * Starts the local stand-in for the Cloudflare API that `wrangler deploy` and `wrangler versions upload`
 * call (on 127.0.0.1 only), after handing each script's deployed version to the host again.
 */
export async function startCloudflareApi(options: CloudflareApiOptions): Promise<CloudflareApi> {
  const { root, host, log } = options;
  const store = new CloudflareStore(root);
  const secret = tokenSecret(root);

  // Changes run one at a time: version numbers, deployments and the host's state stay in step.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };

  const needScript = (account: string, name: string): ScriptRecord => {
    const record = store.script(account, name);
    if (!record) throw notFoundScript();
    return record;
  };
  const deployedVersion = (account: string, record: ScriptRecord): StoredVersion | undefined => {
    const id = record.deployments[0]?.versions[0]?.version_id;
    return id ? store.version(account, record.name, id) : undefined;
  };
  /** What a new upload builds on: the deployed version, else the newest one. */
  const baseVersion = (account: string, record: ScriptRecord | undefined): StoredVersion | undefined =>
    record ? (deployedVersion(account, record) ?? store.versions(account, record.name)[0]) : undefined;

  const scriptObject = (account: string, record: ScriptRecord) => {
    const base = baseVersion(account, record)?.version;
    return {
      id: record.name,
      tag: record.tag,
      tags: record.settings.tags,
      etag: record.etag,
      // The stand-in does not run the module to learn its handlers.
      handlers: ["fetch"],
      created_on: record.createdOn,
      modified_on: record.modifiedOn,
      migration_tag: base?.migrationTag,
      usage_model: "standard",
      compatibility_date: base?.compatibilityDate,
      compatibility_flags: base?.compatibilityFlags ?? [],
      last_deployed_from: "wrangler",
      has_modules: true,
      has_assets: false,
      logpush: record.settings.logpush,
      tail_consumers: record.settings.tail_consumers,
      observability: record.settings.observability,
    };
  };

  const versionObject = ({ version, upload }: StoredVersion) => ({
    id: version.id,
    number: version.number,
    metadata: {
      author_id: "",
      author_email: "",
      source: "wrangler",
      created_on: version.createdOn,
      modified_on: version.createdOn,
      has_preview: version.hasPreview,
    },
    annotations: version.annotations,
    resources: {
      script: { etag: upload.etag, handlers: ["fetch"], last_deployed_from: "wrangler" },
      script_runtime: {
        compatibility_date: version.compatibilityDate,
        compatibility_flags: version.compatibilityFlags,
        usage_model: "standard",
      },
      bindings: publicBindings(version.bindings),
    },
    startup_time_ms: upload.startupTimeMs,
  });

  const settingsObject = (account: string, record: ScriptRecord) => {
    const base = baseVersion(account, record)?.version;
    return {
      ...record.settings,
      bindings: publicBindings(base?.bindings ?? []),
      compatibility_date: base?.compatibilityDate,
      compatibility_flags: base?.compatibilityFlags ?? [],
      usage_model: "standard",
    };
  };

  const recordDeployment = (
    account: string,
    record: ScriptRecord,
    stored: StoredVersion,
    annotations: Record<string, string>,
  ): Deployment => {
    const deployment: Deployment = {
      id: randomUUID(),
      created_on: new Date().toISOString(),
      source: "wrangler",
      author_email: "",
      strategy: "percentage",
      versions: [{ version_id: stored.version.id, percentage: 100 }],
      annotations,
    };
    record.deployments = [deployment, ...record.deployments].slice(0, DEPLOYMENTS_KEPT);
    record.etag = stored.upload.etag;
    record.modifiedOn = deployment.created_on;
    store.saveScript(account, record);
    log(`cloudflare api: deployed ${record.name} version ${stored.version.id} (account ${account})`);
    return deployment;
  };

  /**
   * Stores an upload as a new version once the host accepts it; `deploy` also migrates and deploys it
   * (the version is kept only when the host started it), otherwise it is served on its preview URL when
   * it has one.
   */
  const upload = (account: string, name: string, form: ParsedUpload, deploy: boolean) =>
    serially(async () => {
      const { metadata } = form;
      const existing = store.script(account, name);
      const base = baseVersion(account, existing);
      const bindings = resolveBindings(metadata, base?.version);
      const migrated = applyMigrations(metadata.migrations, {
        tag: base?.version.migrationTag,
        classes: base?.version.durableObjectClasses ?? [],
      });
      checkDurableObjectBindings(name, bindings, migrated.classes);
      const id = randomUUID();
      const number = (store.versions(account, name)[0]?.version.number ?? 0) + 1;
      try {
        const modules = store.writeModules(account, name, id, form.modules);
        const version: WorkerVersion = {
          id,
          accountId: account,
          scriptName: name,
          number,
          createdOn: new Date().toISOString(),
          mainModule: metadata.main_module,
          modules,
          compatibilityDate: metadata.compatibility_date,
          compatibilityFlags: metadata.compatibility_flags ?? [],
          bindings,
          durableObjectClasses: migrated.classes,
          migrationTag: migrated.tag,
          annotations: metadata.annotations ?? {},
          hasPreview:
            migrated.classes.length === 0 && !bindings.some((b) => b.type === "durable_object_namespace"),
        };
        const hash = createHash("sha256").update(JSON.stringify({ ...version, modules: [], createdOn: "" }));
        for (const m of form.modules) hash.update(`\0${m.name}\0${m.type}\0`).update(m.content);
        const started = Date.now();
        await host.check(version).catch((error) => Promise.reject(refusal(error)));
        const stored: StoredVersion = {
          version,
          upload: {
            etag: hash.digest("hex"),
            migrations: metadata.migrations ?? null,
            startupTimeMs: Date.now() - started,
          },
        };
        if (deploy) {
          if (migrated.steps.length > 0) {
            await host
              .migrate(account, name, migrated.steps)
              .catch((error) => Promise.reject(refusal(error)));
          }
          await host.deploy(version).catch((error) => Promise.reject(refusal(error)));
        } else if (version.hasPreview) {
          await host.preview(version).catch((error) => Promise.reject(refusal(error)));
        }
        store.commitVersion(version, stored.upload);
        const record = existing ?? store.newScript(name, version.createdOn);
        if (deploy) {
          const settings: Partial<ScriptSettings> = {};
          for (const key of ["logpush", "observability", "tail_consumers", "placement", "limits"] as const) {
            if (metadata[key] !== undefined) (settings as Record<string, unknown>)[key] = metadata[key];
          }
          record.settings = { ...record.settings, ...settings };
          recordDeployment(account, record, stored, { "workers/triggered_by": "upload" });
        } else {
          record.modifiedOn = version.createdOn;
          store.saveScript(account, record);
          log(`cloudflare api: uploaded ${name} version ${id} (number ${number}, account ${account})`);
        }
        return stored;
      } catch (error) {
        store.discardVersion(account, name, id);
        throw error;
      }
    });

  const readUpload = async (call: Call): Promise<ParsedUpload> =>
    parseUploadForm(await readBody(call.req, MAX_UPLOAD_BYTES), call.req.headers["content-type"]);

  const routes: [method: string, pattern: string, handler: Handler][] = [
    ["GET", "workers/subdomain", async ({ account }) => ({ subdomain: workersDevSubdomain(account) })],
    [
      "GET",
      "workers/scripts",
      async ({ account }) =>
        store.scriptNames(account).map((name) => scriptObject(account, needScript(account, name))),
    ],
    [
      "GET",
      "workers/services/:name",
      async ({ account, params }) => {
        const record = needScript(account, params.name!);
        const times = { created_on: record.createdOn, modified_on: record.modifiedOn };
        return {
          id: record.name,
          ...times,
          default_environment: { environment: "production", ...times, script: scriptObject(account, record) },
          environments: [{ environment: "production", ...times }],
        };
      },
    ],
    [
      "PUT",
      "workers/scripts/:name",
      async (call) => {
        const name = call.params.name!;
        checkScriptName(name);
        const stored = await upload(call.account, name, await readUpload(call), true);
        return {
          ...scriptObject(call.account, needScript(call.account, name)),
          startup_time_ms: stored.upload.startupTimeMs,
          deployment_id: stored.version.id,
        };
      },
    ],
    [
      "DELETE",
      "workers/scripts/:name",
      ({ account, params }) =>
        serially(async () => {
          const record = needScript(account, params.name!);
          await host.remove(account, record.name).catch((error) => Promise.reject(refusal(error)));
          store.removeScript(account, record.name);
          log(`cloudflare api: deleted ${record.name} (account ${account})`);
          return { id: record.name };
        }),
    ],
    [
      "GET",
      "workers/scripts/:name/deployments",
      async ({ account, params }) => ({
        deployments: needScript(account, params.name!).deployments,
      }),
    ],
    [
      "POST",
      "workers/scripts/:name/deployments",
      async ({ req, account, params }) => {
        const body = await readJsonBody(req);
        return serially(() => deployExisting(account, params.name!, body));
      },
    ],
    [
      "GET",
      "workers/scripts/:name/versions",
      async ({ account, params }) => {
        needScript(account, params.name!);
        return { items: store.versions(account, params.name!).map(versionObject) };
      },
    ],
    [
      "POST",
      "workers/scripts/:name/versions",
      async (call) => {
        const name = call.params.name!;
        checkScriptName(name);
        return versionObject(await upload(call.account, name, await readUpload(call), false));
      },
    ],
    [
      "GET",
      "workers/scripts/:name/versions/:id",
      async ({ account, params }) => {
        needScript(account, params.name!);
        const stored = store.version(account, params.name!, params.id!);
        if (!stored)
          throw new CloudflareApiError(404, 10007, `version ${params.id} does not exist on this Worker.`);
        return versionObject(stored);
      },
    ],
    ...(["settings", "script-settings"] as const).flatMap((which): [string, string, Handler][] => [
      [
        "GET",
        `workers/scripts/:name/${which}`,
        async ({ account, params }) => settingsObject(account, needScript(account, params.name!)),
      ],
      [
        "PATCH",
        `workers/scripts/:name/${which}`,
        async ({ req, account, params }) => {
          const patch = await readSettingsPatch(req);
          return serially(async () => {
            const record = needScript(account, params.name!);
            record.settings = { ...record.settings, ...patch };
            record.modifiedOn = new Date().toISOString();
            store.saveScript(account, record);
            log(
              `cloudflare api: ${record.name} settings ${Object.keys(patch).join(", ") || "unchanged"} (account ${account})`,
            );
            return settingsObject(account, record);
          });
        },
      ],
    ]),
    [
      "GET",
      "workers/scripts/:name/subdomain",
      async ({ account, params }) => needScript(account, params.name!).subdomain,
    ],
    [
      "POST",
      "workers/scripts/:name/subdomain",
      async ({ req, account, params }) => {
        const body = await readJsonBody(req);
        if (typeof body.enabled !== "boolean")
          throw new CloudflareApiError(400, 10012, '"enabled" must be true or false');
        if (body.previews_enabled !== undefined && typeof body.previews_enabled !== "boolean") {
          throw new CloudflareApiError(400, 10012, '"previews_enabled" must be true or false when given');
        }
        return serially(async () => {
          const record = needScript(account, params.name!);
          // Left out, preview URLs follow workers.dev (what Cloudflare does for wrangler's API date).
          record.subdomain = {
            enabled: body.enabled as boolean,
            previews_enabled: (body.previews_enabled ?? body.enabled) as boolean,
          };
          store.saveScript(account, record);
          log(
            `cloudflare api: ${record.name} workers.dev ${record.subdomain.enabled ? "on" : "off"}, previews ${record.subdomain.previews_enabled ? "on" : "off"} (account ${account})`,
          );
          return record.subdomain;
        });
      },
    ],
    ["GET", "storage/kv/namespaces", async ({ account, url }) => listKv(account, url.searchParams)],
    [
      "POST",
      "storage/kv/namespaces",
      async ({ req, account }) => {
        const { title } = await readJsonBody(req);
        if (typeof title !== "string" || title.trim() === "" || title.length > 512) {
          throw new CloudflareApiError(
            400,
            10019,
            '"title" must be a non-empty string of at most 512 characters',
          );
        }
        return serially(async () => {
          const created = store.createKvNamespace(account, title);
          log(`cloudflare api: created KV namespace ${created.id} "${title}" (account ${account})`);
          return { ...created, supports_url_encoding: true };
        });
      },
    ],
  ];

  function listKv(account: string, query: URLSearchParams) {
    const page = Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1);
    const perPage = Math.min(1000, Math.max(1, Number.parseInt(query.get("per_page") ?? "20", 10) || 20));
    const order = query.get("order") === "id" ? "id" : "title";
    const sign = query.get("direction") === "desc" ? -1 : 1;
    const all = store
      .kvNamespaces(account)
      .sort((a, b) => sign * a[order].localeCompare(b[order]))
      .map((ns) => ({ ...ns, supports_url_encoding: true }));
    const result = all.slice((page - 1) * perPage, page * perPage);
    return new Paged(result, {
      page,
      per_page: perPage,
      count: result.length,
      total_count: all.length,
      total_pages: Math.ceil(all.length / perPage),
    });
  }

  async function readSettingsPatch(req: IncomingMessage): Promise<Partial<ScriptSettings>> {
    let body: Record<string, unknown>;
    if (req.headers["content-type"]?.toLowerCase().startsWith("multipart/form-data")) {
      // Cloudflare's own settings route takes a multipart body with a `settings` part.
      const raw = await readBody(req, MAX_JSON_BYTES);
      const form = await new Request("http://stand-in/", {
        method: "PATCH",
        body: raw,
        headers: { "content-type": req.headers["content-type"] },
      })
        .formData()
        .catch((error: Error) =>
          Promise.reject(
            new CloudflareApiError(400, 10012, `the multipart body could not be read: ${error.message}`),
          ),
        );
      const part = form.get("settings");
      try {
        body = JSON.parse(typeof part === "string" ? part : ((await part?.text()) ?? "{}"));
      } catch {
        throw new CloudflareApiError(400, 10012, 'the "settings" part is not JSON');
      }
    } else {
      body = await readJsonBody(req);
    }
    for (const key of ["bindings", "compatibility_date", "compatibility_flags"]) {
      if (body[key] !== undefined) {
        throw new CloudflareApiError(
          400,
          10021,
          `settings: "${key}" belongs to a version on the stand-in; upload a new version (wrangler deploy) to change it`,
        );
      }
    }
    const patch: Partial<ScriptSettings> = {};
    for (const key of [
      "logpush",
      "observability",
      "tail_consumers",
      "streaming_tail_consumers",
      "tags",
      "placement",
      "limits",
    ] as const) {
      if (body[key] !== undefined) (patch as Record<string, unknown>)[key] = body[key];
    }
    if (
      patch.tags !== undefined &&
      patch.tags !== null &&
      (!Array.isArray(patch.tags) || patch.tags.some((t) => typeof t !== "string"))
    ) {
      throw new CloudflareApiError(400, 10012, '"tags" must be an array of strings');
    }
    if (patch.tags === null) patch.tags = [];
    return patch;
  }

  /** `POST …/deployments`: one stored version at 100%, its pending migrations applied first. */
  async function deployExisting(account: string, name: string, body: Record<string, unknown>) {
    const record = needScript(account, name);
    const refuse = (message: string) => new CloudflareApiError(400, 10070, message);
    if (body.strategy !== "percentage") throw refuse('deployments: "strategy" must be "percentage"');
    const versions = body.versions;
    if (!Array.isArray(versions) || versions.length === 0) {
      throw refuse(
        'deployments: "versions" must list the version to deploy: [{"version_id", "percentage": 100}]',
      );
    }
    const total = versions.reduce(
      (sum: number, v) => sum + (typeof v?.percentage === "number" ? v.percentage : Number.NaN),
      0,
    );
    if (total !== 100)
      throw refuse(`deployments: the versions' percentages must add up to 100 (got ${total})`);
    if (versions.length > 1) {
      throw refuse("deployments: the stand-in serves one version at a time; deploy a single version at 100%");
    }
    const versionId = versions[0].version_id;
    const stored = typeof versionId === "string" ? store.version(account, name, versionId) : undefined;
    if (!stored) throw refuse(`deployments: version ${JSON.stringify(versionId)} does not exist on ${name}`);
    const current = deployedVersion(account, record)?.version.migrationTag;
    const { version, upload: uploaded } = stored;
    let steps = uploaded.migrations ? migrationSteps(uploaded.migrations) : [];
    if (version.migrationTag === current) steps = [];
    else if (!uploaded.migrations || (uploaded.migrations.old_tag || undefined) !== current) {
      throw new CloudflareApiError(
        400,
        10079,
        `version ${version.id} was made for migration tag ${JSON.stringify(version.migrationTag ?? null)}, but the script's current migration tag is ${JSON.stringify(current ?? null)}: upload a new version with the migrations between them`,
      );
    }
    if (steps.length > 0)
      await host.migrate(account, name, steps).catch((error) => Promise.reject(refusal(error)));
    await host.deploy(version).catch((error) => Promise.reject(refusal(error)));
    const annotations: Record<string, string> = {};
    if (typeof body.annotations === "object" && body.annotations !== null) {
      for (const [k, v] of Object.entries(body.annotations)) if (typeof v === "string") annotations[k] = v;
    }
    return recordDeployment(account, record, stored, annotations);
  }

  const compiled = routes.map(([method, pattern, handler]) => ({
    method,
    parts: pattern.split("/"),
    handler,
  }));
  function match(method: string, rest: string[]) {
    for (const route of compiled) {
      if (route.method !== method || route.parts.length !== rest.length) continue;
      if (!route.parts.every((p, i) => p.startsWith(":") || p === rest[i])) continue;
      const params: Record<string, string> = {};
      route.parts.forEach((p, i) => {
        if (p.startsWith(":")) params[p.slice(1)] = rest[i]!;
      });
      return { handler: route.handler, params };
    }
    return undefined;
  }

  async function handle(req: IncomingMessage): Promise<{ status: number; result: unknown }> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const noRoute = new CloudflareApiError(
      404,
      7003,
      `Could not route to ${url.pathname}, perhaps your object identifier is invalid?`,
    );
    const m = /^\/client\/v4\/accounts\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) throw noRoute;
    const account = m[1]!;
    checkAccountId(account);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!auth || !(await verifyCloudflareApiToken(secret, account, auth[1]!))) {
      throw new CloudflareApiError(403, 10000, "Authentication error");
    }
    const found = match(req.method ?? "GET", m[2]!.replace(/\/$/, "").split("/"));
    if (!found) throw noRoute;
    const result = await found.handler({ req, url, account, params: found.params });
    return { status: 200, result };
  }

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  const server = createServer((req, res) => {
    handle(req).then(
      ({ status, result }) => {
        if (result instanceof Paged) {
          send(res, status, {
            success: true,
            errors: [],
            messages: [],
            result: result.result,
            result_info: result.info,
          });
        } else send(res, status, { success: true, errors: [], messages: [], result: result ?? null });
      },
      (error: unknown) => {
        const api =
          error instanceof CloudflareApiError ? error : new CloudflareApiError(500, 10002, String(error));
        if (!(error instanceof CloudflareApiError))
          log(`cloudflare api: ${req.method} ${req.url} failed: ${(error as Error)?.stack ?? error}`);
        // Whatever of the body was not read is dropped, so that the client reads the answer.
        req.resume();
        send(res, api.status, {
          success: false,
          errors: [{ code: api.code, message: api.message }],
          messages: [],
          result: null,
        });
      },
    );
  });

  // The port first: a Worker restored below takes its saved port only when it is free, so it can never
  // take the one chosen for the API.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  for (const account of store.accountIds()) {
    for (const name of store.scriptNames(account)) {
      const record = store.script(account, name);
      if (!record) continue;
      const deployed = deployedVersion(account, record);
      if (deployed) {
        await host.deploy(deployed.version).then(
          () => log(`cloudflare api: restored ${name} version ${deployed.version.id} (account ${account})`),
          (error) =>
            log(
              `cloudflare api: could not restore ${name} version ${deployed.version.id} (account ${account}): ${(error as Error)?.message ?? error}`,
            ),
        );
      }
      const previews = store
        .versions(account, name)
        .filter((s) => s.version.hasPreview)
        .slice(0, PREVIEWS_RESTORED);
      for (const { version } of previews) {
        await host
          .preview(version)
          .catch((error) =>
            log(
              `cloudflare api: could not restore the preview of ${name} version ${version.id} (account ${account}): ${(error as Error)?.message ?? error}`,
            ),
          );
      }
    }
  }

  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/client/v4`,
    port,
    tokenFor: async (accountId) => {
      checkAccountId(accountId);
      return cloudflareApiToken(secret, accountId);
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await queue;
      server.closeAllConnections();
      await closed;
    },
  };
}
