import { bindingKindOf, LOCAL_OPTIONS, type PlanContext } from "../../components/bindings";
import {
  historyOfUpload,
  type MigrationUploadStep,
  replayMigrations,
} from "../../components/durable-objects";
import { LOCAL_SERVICE_TYPE, type LocalServicePlan } from "../../components/local-service-types";
import { D1_MIGRATIONS_TYPE, SQL_MIGRATIONS_TYPE } from "../../components/migration-types";
import { type CapturedResource, mockD1Uuid, mockIdOf, reveal } from "../graph";
import { type LocalLifecycle, lifecycleOf } from "./r2-lifecycle";

/**
 * Turns the captured resource graph of a stack into what the local target starts: one Miniflare Worker
 * per `WorkersScript` with its bindings, plus what the runner does around workerd (D1 migrations,
 * Hyperdrive origins, crons, host routing, queue consumers). Pure: no I/O, no Miniflare instance.
 */

/** Binding name → value, per Miniflare worker option the binding kinds land in (`components/bindings`). */
export interface LocalBindingOptions {
  /** `plain_text` and `secret_text` bindings, secrets revealed. */
  bindings: Record<string, string>;
  kvNamespaces: Record<string, string>;
  d1Databases: Record<string, string>;
  r2Buckets: Record<string, string>;
  /** Binding → Hyperdrive config id; the runner replaces it with a local URL. */
  hyperdrives: Record<string, string>;
  durableObjects: Record<string, { className: string; scriptName?: string; useSQLite: boolean }>;
  serviceBindings: Record<string, { name: string; entrypoint?: string }>;
  queueProducers: Record<string, { queueName: string }>;
  analyticsEngineDatasets: Record<string, { dataset: string }>;
}

export interface LocalWorker extends LocalBindingOptions {
  /** Script name. */
  name: string;
  modules: [{ type: "ESModule"; path: "index.js"; contents: string }];
  compatibilityDate: string;
  compatibilityFlags: string[];
  /** Which of `bindings` are secrets (for whoever prints the plan; Miniflare does not take this field). */
  secretBindings: string[];
  /** Options of binding kinds whose descriptors name an option not listed above. */
  [option: string]: unknown;
}

export interface LocalPlan {
  /** One entry per WorkersScript, in Miniflare's v4 worker-options shape (`convertV4MiniflareOptions`). */
  workers: LocalWorker[];
  /** Kinds of resource (or script setting) with no local meaning, once each, naming the resources. */
  notEmulated: { type: string; name: string; reason: string }[];
  crons: { scriptName: string; cron: string }[];
  /** Host names routed to a script (custom domains, route patterns' hosts). */
  hosts: { host: string; scriptName: string }[];
  d1: { databaseId: string; migrations: { name: string; sql: string; checksum: string }[] }[];
  hyperdrives: {
    id: string;
    origin: { host: string; port: number; database: string; user: string; password: string };
    /** Most connections to the origin, when the config sets it. */
    originConnectionLimit?: number;
  }[];
  /** Buckets with expiry rules, which the runner applies itself. */
  r2Lifecycles: LocalLifecycle[];
  /** What Workers declared they need beside them locally (build runners, development tokens). */
  services: LocalServicePlan[];
  queueConsumers: {
    queueName: string;
    scriptName: string;
    maxBatchSize?: number;
    maxRetries?: number;
    maxBatchTimeout?: number;
    deadLetterQueue?: string;
  }[];
}

export class LocalPlanError extends Error {
  override name = "LocalPlanError";
}

const CF = "cloudflare:index/";
export const TYPES = {
  script: `${CF}workersScript:WorkersScript`,
  d1: `${CF}d1Database:D1Database`,
  d1Migrations: D1_MIGRATIONS_TYPE,
  kv: `${CF}workersKvNamespace:WorkersKvNamespace`,
  r2: `${CF}r2Bucket:R2Bucket`,
  r2Lifecycle: `${CF}r2BucketLifecycle:R2BucketLifecycle`,
  hyperdrive: `${CF}hyperdriveConfig:HyperdriveConfig`,
  queue: `${CF}queue:Queue`,
  queueConsumer: `${CF}queueConsumer:QueueConsumer`,
  cron: `${CF}workersCronTrigger:WorkersCronTrigger`,
  customDomain: `${CF}workersCustomDomain:WorkersCustomDomain`,
  route: `${CF}workersRoute:WorkersRoute`,
  subdomain: `${CF}workersScriptSubdomain:WorkersScriptSubdomain`,
} as const;
/** Script settings reported in `notEmulated` under these pseudo-types. */
export const PLACEMENT = `${TYPES.script}.placement`;
export const OBSERVABILITY = `${TYPES.script}.observability`;

const REASONS: Record<string, string> = {
  [TYPES.subdomain]: "no workers.dev locally: each Worker is served on its own 127.0.0.1 port",
  [TYPES.customDomain]: "served by Host header on the local entry port instead of DNS and a certificate",
  [TYPES.route]: "served by Host header on the local entry port (host part only; paths are not matched)",
  [TYPES.r2Lifecycle]:
    "workerd's R2 store keeps objects forever: the local runner deletes the ones expiry rules expire, a minute after start and then every hour",
  [TYPES.cron]: "workerd has no scheduler: the local runner fires the scheduled handler on each schedule",
  [`${TYPES.r2Lifecycle}.rules`]:
    "storage class transitions and multipart upload aborts have no local store to act on",
  [PLACEMENT]: "Smart Placement has no meaning on one machine",
  [OBSERVABILITY]: "Workers Observability is Cloudflare's dashboard; locally logs go to the console",
};

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);

function str(o: Rec, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string" || v === "") throw new LocalPlanError(`${where}: "${key}" must be a string`);
  return v;
}
const optStr = (o: Rec, key: string): string | undefined => (typeof o[key] === "string" ? o[key] : undefined);
const optNum = (o: Rec, key: string): number | undefined => (typeof o[key] === "number" ? o[key] : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);
const recs = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRec) : []);

/**
 * Durable Object class → SQLite-backed, for the classes one upload's migrations (top level, then each
 * step) leave, replayed by the planner's own `replayMigrations`. A class transferred from another script
 * is left out: its storage is that script's.
 */
function classStorage(migrations: unknown): Map<string, boolean> {
  if (!isRec(migrations)) return new Map();
  const moves = (v: unknown) =>
    recs(v).flatMap((m) => {
      const [from, to] = [optStr(m, "from"), optStr(m, "to")];
      return from && to ? [{ from, to, fromScript: optStr(m, "fromScript") ?? "" }] : [];
    });
  const steps = [migrations, ...recs(migrations.steps)].map(
    (step): MigrationUploadStep => ({
      newSqliteClasses: strs(step.newSqliteClasses),
      newClasses: strs(step.newClasses),
      renamedClasses: moves(step.renamedClasses),
      deletedClasses: strs(step.deletedClasses),
      transferredClasses: moves(step.transferredClasses),
    }),
  );
  const storage = new Map<string, boolean>();
  for (const [name, { storage: kind }] of replayMigrations(historyOfUpload(steps)).live) {
    if (kind) storage.set(name, kind === "sqlite");
  }
  return storage;
}

function skipped(r: CapturedResource): boolean {
  return (
    !r.custom ||
    r.type.startsWith("pulumi:providers:") ||
    r.type.startsWith("postgresql:") ||
    r.type.startsWith("random:") ||
    r.type === SQL_MIGRATIONS_TYPE
  );
}

const KNOWN = new Set<string>(Object.values(TYPES));

/** The local plan of a captured resource graph; throws `LocalPlanError` on what it cannot map. */
export function planLocal(resources: CapturedResource[]): LocalPlan {
  const graph = resources
    .filter((r) => !skipped(r))
    .map((r) => {
      if (!KNOWN.has(r.type)) {
        throw new LocalPlanError(
          `the local target does not know resource type ${r.type} (resource ${r.name})`,
        );
      }
      return { r, inputs: reveal(r.inputs) as Rec };
    });
  const ofType = (type: string) => graph.filter((g) => g.r.type === type);
  const where = (r: CapturedResource) => `${r.type.split(":").pop()} ${r.name}`;

  const notEmulated = new Map<string, string[]>();
  const reasons = new Map<string, string>();
  const report = (type: string, name: string, reason?: string) => {
    notEmulated.set(type, [...(notEmulated.get(type) ?? []), name]);
    if (reason) reasons.set(type, reason);
  };

  // Scripts first: every other resource refers to them by script name.
  const scripts = new Map<string, { r: CapturedResource; inputs: Rec; storage: Map<string, boolean> }>();
  for (const { r, inputs } of ofType(TYPES.script)) {
    const name = str(inputs, "scriptName", where(r));
    if (scripts.has(name)) throw new LocalPlanError(`two WorkersScripts are named ${name}`);
    scripts.set(name, { r, inputs, storage: classStorage(inputs.migrations) });
  }
  const script = (name: string | undefined, context: string): string => {
    if (!name || !scripts.has(name)) {
      throw new LocalPlanError(
        `${context} refers to Worker ${name ?? "(none)"}, which the program does not declare`,
      );
    }
    return name;
  };

  const hyperdrives: LocalPlan["hyperdrives"] = ofType(TYPES.hyperdrive).map(({ r, inputs }) => {
    const origin = isRec(inputs.origin) ? inputs.origin : {};
    const at = `${where(r)} origin`;
    return {
      id: mockIdOf(r),
      origin: {
        host: str(origin, "host", at),
        port: optNum(origin, "port") ?? 5432,
        database: str(origin, "database", at),
        user: str(origin, "user", at),
        password: optStr(origin, "password") ?? "",
      },
      originConnectionLimit: optNum(inputs, "originConnectionLimit"),
    };
  });
  const hyperdriveIds = new Set(hyperdrives.map((h) => h.id));
  // On Cloudflare a D1 database's `id` and `uuid` are the same value, and a `d1` binding may carry either;
  // the mocks give them different values, so both are mapped to the uuid: one database, whichever is used.
  const d1Ids = new Map<string, string>();
  for (const { r } of ofType(TYPES.d1)) {
    d1Ids.set(mockIdOf(r), mockD1Uuid(r));
    d1Ids.set(mockD1Uuid(r), mockD1Uuid(r));
  }
  const d1Id = (id: string) => d1Ids.get(id) ?? id;

  const workers = [...scripts].map(([name, { r, inputs }]): LocalWorker => {
    const content = inputs.content;
    if (typeof content !== "string") throw new LocalPlanError(`Worker ${name}: no "content" module to run`);
    const options: LocalBindingOptions = {
      bindings: {},
      kvNamespaces: {},
      d1Databases: {},
      r2Buckets: {},
      hyperdrives: {},
      durableObjects: {},
      serviceBindings: {},
      queueProducers: {},
      analyticsEngineDatasets: {},
    };
    const worker: LocalWorker = {
      name,
      modules: [{ type: "ESModule", path: "index.js", contents: content }],
      compatibilityDate: str(inputs, "compatibilityDate", `Worker ${name}`),
      compatibilityFlags: strs(inputs.compatibilityFlags),
      secretBindings: [],
      ...options,
      // Options of kinds added since: every one a descriptor names, empty until a binding lands in it.
      ...Object.fromEntries(LOCAL_OPTIONS.filter((o) => !(o in options)).map((o) => [o, {}])),
    };
    for (const b of recs(inputs.bindings)) {
      const binding = str(b, "name", `Worker ${name} binding`);
      const kind = bindingKindOf(b.type);
      if (!kind) {
        throw new LocalPlanError(
          `Worker ${name}: binding ${binding} has type "${String(b.type)}", which the local target does not know`,
        );
      }
      if ("notEmulated" in kind.local) {
        report(`${TYPES.script}.bindings.${kind.type}`, `${name} ${binding}`, kind.local.notEmulated);
        continue;
      }
      const at = `Worker ${name} binding ${binding}`;
      const context: PlanContext = {
        scriptName: name,
        where: at,
        str: (o, key) => str(o, key, at),
        script: (other) => script(other, at),
        sqlite: (owner, className) => scripts.get(owner)?.storage.get(className) ?? true,
        d1: d1Id,
        hyperdrive: (id) => {
          if (!hyperdriveIds.has(id)) {
            throw new LocalPlanError(`${at}: Hyperdrive config ${id} is not declared by the program`);
          }
          return id;
        },
      };
      const options = worker as unknown as Record<string, Rec>;
      options[kind.local.option] = { ...options[kind.local.option], [binding]: kind.local.value(b, context) };
      if (kind.secret) worker.secretBindings.push(binding);
    }
    if (isRec(inputs.placement) && inputs.placement.mode === "smart") report(PLACEMENT, r.name);
    if (isRec(inputs.observability) && inputs.observability.enabled === true) report(OBSERVABILITY, r.name);
    return worker;
  });

  const d1: LocalPlan["d1"] = ofType(TYPES.d1).map(({ r }) => ({
    databaseId: mockD1Uuid(r),
    migrations: [],
  }));
  for (const { r, inputs } of ofType(TYPES.d1Migrations)) {
    const databaseId = d1Id(str(inputs, "databaseId", where(r)));
    let entry = d1.find((d) => d.databaseId === databaseId);
    if (!entry) {
      entry = { databaseId, migrations: [] };
      d1.push(entry);
    }
    for (const m of recs(inputs.migrations)) {
      const at = `${where(r)} migration`;
      const sql = typeof m.sql === "string" ? m.sql : str(m, "sql", at);
      entry.migrations.push({ name: str(m, "name", at), sql, checksum: str(m, "checksum", at) });
    }
  }

  const queues = new Map(
    ofType(TYPES.queue).map(({ r, inputs }) => [mockIdOf(r), str(inputs, "queueName", where(r))]),
  );
  const queueConsumers: LocalPlan["queueConsumers"] = [];
  for (const { r, inputs } of ofType(TYPES.queueConsumer)) {
    const queueId = str(inputs, "queueId", where(r));
    const queueName = queues.get(queueId);
    if (!queueName) throw new LocalPlanError(`${where(r)}: queue ${queueId} is not declared by the program`);
    const settings = isRec(inputs.settings) ? inputs.settings : {};
    const waitMs = optNum(settings, "maxWaitTimeMs");
    const optional = {
      maxBatchSize: optNum(settings, "batchSize"),
      maxRetries: optNum(settings, "maxRetries"),
      maxBatchTimeout: waitMs === undefined ? undefined : waitMs / 1000, // Miniflare takes seconds
      deadLetterQueue: optStr(inputs, "deadLetterQueue") || undefined,
    };
    queueConsumers.push({
      queueName,
      scriptName: script(optStr(inputs, "scriptName"), where(r)),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
    });
  }

  const crons: LocalPlan["crons"] = [];
  for (const { r, inputs } of ofType(TYPES.cron)) {
    const scriptName = script(optStr(inputs, "scriptName"), where(r));
    for (const s of recs(inputs.schedules)) crons.push({ scriptName, cron: str(s, "cron", where(r)) });
    report(r.type, r.name);
  }

  const hosts: LocalPlan["hosts"] = [];
  const addHost = (host: string, scriptName: string) => {
    if (!hosts.some((h) => h.host === host && h.scriptName === scriptName)) hosts.push({ host, scriptName });
  };
  for (const { r, inputs } of ofType(TYPES.customDomain)) {
    addHost(str(inputs, "hostname", where(r)), script(optStr(inputs, "service"), where(r)));
    report(r.type, r.name);
  }
  for (const { r, inputs } of ofType(TYPES.route)) {
    report(r.type, r.name);
    const target = optStr(inputs, "script");
    if (!target) continue; // a route without a script turns Workers off for its pattern
    const host = str(inputs, "pattern", where(r))
      .replace(/^https?:\/\//, "")
      .split("/")[0];
    if (host) addHost(host, script(target, where(r)));
  }

  for (const { r } of ofType(TYPES.subdomain)) report(TYPES.subdomain, r.name);
  const r2Lifecycles: LocalLifecycle[] = [];
  for (const { r, inputs } of ofType(TYPES.r2Lifecycle)) {
    const lifecycle = lifecycleOf(str(inputs, "bucketName", where(r)), inputs.rules);
    r2Lifecycles.push(lifecycle);
    report(TYPES.r2Lifecycle, r.name);
    for (const part of lifecycle.ignored) report(`${TYPES.r2Lifecycle}.rules`, `${r.name} (${part})`);
  }

  const services: LocalServicePlan[] = [];
  for (const r of resources.filter((r) => r.type === LOCAL_SERVICE_TYPE)) {
    const inputs = reveal(r.inputs) as Rec;
    const scriptName = script(optStr(inputs, "scriptName"), `local service ${r.name}`);
    const kind = optStr(inputs, "kind");
    if (kind !== "build-runner" && kind !== "dev-token") {
      throw new LocalPlanError(
        `local service ${r.name} has kind "${String(kind)}", which the local target does not know`,
      );
    }
    services.push({ ...inputs, kind, scriptName } as LocalServicePlan);
  }

  return {
    workers,
    services,
    notEmulated: [...notEmulated].map(([type, names]) => ({
      type,
      name: names.join(", "),
      reason: reasons.get(type) ?? REASONS[type] ?? "not emulated locally",
    })),
    crons,
    hosts,
    d1,
    hyperdrives,
    r2Lifecycles,
    queueConsumers,
  };
}

/** Where the runner put what the plan only names: the persistence folder, pool URLs, each Worker's port. */
export interface LocalPlacement {
  /** Folder of the Workers' persisted storage (KV, R2, D1, Durable Objects, caches). */
  persistencePath: string;
  /** Hyperdrive config id → URL of the local pool its bindings connect to. */
  hyperdriveUrls: ReadonlyMap<string, string>;
  /** Script name → port of the Worker's own socket. */
  ports: ReadonlyMap<string, number>;
  /** Script name → vars the local services set (a runner's URLs), over the declared ones. */
  vars?: ReadonlyMap<string, Record<string, string>>;
  /**
   * Answers requests that come to the entry port for a `*.workers.dev` host name (the Workers deployed
   * through the Cloudflare API stand-in); a Worker of the plan's own routes still wins over it.
   */
  workersDev?: (request: Request) => Promise<Response>;
}

/** The name of the entry port's Worker that hands `*.workers.dev` requests to `workersDev`. */
export const WORKERS_DEV_ROUTER = "workers-dev-router";

/**
 * The complete Miniflare options (v4 shape, for `convertV4MiniflareOptions`) of a plan placed on this
 * machine: each Worker with its Hyperdrive bindings pointed at their pools, its queue consumers, its
 * routes' hosts and its own socket. Pure.
 */
export function miniflareOptions(plan: LocalPlan, placement: LocalPlacement) {
  const router = placement.workersDev && {
    name: WORKERS_DEV_ROUTER,
    modules: true,
    script: "export default { fetch: (request, env) => env.DEPLOYED.fetch(request) };",
    compatibilityDate: "2025-01-01",
    routes: ["*.workers.dev/*"],
    serviceBindings: { DEPLOYED: placement.workersDev },
  };
  return {
    host: "127.0.0.1",
    port: 0,
    resourcePersistencePath: placement.persistencePath,
    workers: [
      ...plan.workers.map(({ secretBindings: _secretBindings, ...w }) => ({
        ...w,
        bindings: { ...w.bindings, ...placement.vars?.get(w.name) },
        hyperdrives: Object.fromEntries(
          Object.entries(w.hyperdrives).map(([binding, id]) => [
            binding,
            placement.hyperdriveUrls.get(id) ?? id,
          ]),
        ),
        queueConsumers: Object.fromEntries(
          plan.queueConsumers
            .filter((c) => c.scriptName === w.name)
            .map(({ queueName, scriptName: _s, ...settings }) => [queueName, settings]),
        ),
        routes: plan.hosts.filter((h) => h.scriptName === w.name).map((h) => `${h.host}/*`),
        unsafeDirectSockets: [{ host: "127.0.0.1", port: placement.ports.get(w.name) }],
      })),
      // Last: with no route matched, the entry port answers with the first Worker, as before.
      ...(router ? [router] : []),
    ],
  };
}
