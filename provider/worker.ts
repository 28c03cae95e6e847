import * as pulumi from "@pulumi/pulumi";
import { Worker as WorkerComponent } from "../components";
import { childOptions } from "./child";
import type { Placement } from "./enums";

export interface WorkerObservability {
  enabled: boolean;
  /** Share of requests logged, 0 to 1. Default: 1. */
  headSamplingRate?: number;
  /** Default: true. */
  invocationLogs?: boolean;
}

/** A custom domain the Worker serves. */
export interface WorkerCustomDomain {
  hostname: pulumi.Input<string>;
  zoneId: pulumi.Input<string>;
}

/** A route pattern the Worker serves. */
export interface WorkerRoute {
  pattern: pulumi.Input<string>;
  zoneId: pulumi.Input<string>;
}

/** The Worker consumes a queue. */
export interface QueueConsumer {
  /** Id of the queue, e.g. a `Queue` resource's `id`. */
  queueId: pulumi.Input<string>;
  /** Default: 10. */
  batchSize?: number;
  /** Default: 3. */
  maxRetries?: number;
  /** Default: 5000. */
  maxWaitTimeMs?: number;
  /** Name of the queue that receives messages that ran out of retries. */
  deadLetterQueue?: pulumi.Input<string>;
}

/** A Durable Object namespace binding. */
export interface DurableObjectBinding {
  className: string;
  /** Name of the script that implements the class; omitted for the Worker's own classes. */
  script?: pulumi.Input<string>;
}

/** A service binding to another Worker. */
export interface ServiceBinding {
  /** Script name of the Worker called, e.g. a `Worker` resource's `scriptName`. */
  service: pulumi.Input<string>;
  /** Named `WorkerEntrypoint` export to call over RPC. Default: the default export. */
  entrypoint?: string;
}

export interface RenamedClass {
  from: string;
  to: string;
}

export interface TransferredClass {
  from: string;
  fromScript: string;
  to: string;
}

/** One tagged step of a Worker's append-only Durable Object migration history. */
export interface DurableObjectMigration {
  /** Unique, non-empty, `[A-Za-z0-9._-]+`. */
  tag: string;
  /** Classes created SQLite-backed (the default for new classes). */
  newClasses?: string[];
  /** Legacy key-value-backed classes, only when asked for explicitly (new accounts reject them). */
  newKvClasses?: string[];
  renamedClasses?: RenamedClass[];
  deletedClasses?: string[];
  transferredClasses?: TransferredClass[];
  /** Required on a step that deletes or transfers classes: those objects' data is destroyed or moved. Default: false. */
  allowDataLoss?: boolean;
}

export interface WorkerArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** Script name: 1 to 63 of a-z, 0-9, '-' and '_'. Default: `<project>-<stack>-<name>`. */
  scriptName?: string;
  /**
   * TypeScript or JavaScript entry module, bundled with esbuild when the program runs. A relative path is
   * resolved against the provider's working directory (the one `pulumi` runs in).
   */
  entry: string;
  /** workerd compatibility date, `YYYY-MM-DD`. */
  compatibilityDate: string;
  /** workerd compatibility flags. Default: none. */
  compatibilityFlags?: string[];
  /** Adds the `nodejs_compat` flag and resolves Node built-ins to workerd's `node:` modules. Default: false. */
  nodejsCompat?: boolean;
  /** Compile-time constants for the bundle (esbuild `define`). */
  define?: Record<string, string>;
  /** Append-only, tagged history of the Worker's Durable Object migrations. Default: none. */
  durableObjectMigrations?: DurableObjectMigration[];
  /** Default: `off`. */
  placement?: Placement;
  /** Workers Logs. Default: not set (Cloudflare's setting stays). */
  observability?: WorkerObservability;
  /** Cron schedules. Default: none. */
  crons?: string[];
  /** Custom domains the Worker serves. Default: none. */
  customDomains?: WorkerCustomDomain[];
  /** Route patterns the Worker serves. Default: none. */
  routes?: WorkerRoute[];
  /** Serve on `<script>.<subdomain>.workers.dev`. Default: true. */
  workersDev?: boolean;
  /** Queues the Worker consumes. Default: none. */
  queueConsumers?: QueueConsumer[];
  /** KV bindings: binding name → namespace id (a `KvNamespace` resource's `id`). */
  kvNamespaces?: Record<string, pulumi.Input<string>>;
  /** D1 bindings: binding name → database id (a `D1Database` resource's `id`). */
  d1Databases?: Record<string, pulumi.Input<string>>;
  /** R2 bindings: binding name → bucket name (an `R2Bucket` resource's `bucketName`). */
  r2Buckets?: Record<string, pulumi.Input<string>>;
  /** Hyperdrive bindings: binding name → config id (a `Hyperdrive` resource's `id`). */
  hyperdrives?: Record<string, pulumi.Input<string>>;
  /** Durable Object bindings: binding name → class (and the script that implements it, if another one). */
  durableObjects?: Record<string, DurableObjectBinding>;
  /** Service bindings: binding name → Worker called. */
  services?: Record<string, ServiceBinding>;
  /** Queue producer bindings: binding name → queue name (a `Queue` resource's `queueName`). */
  queues?: Record<string, pulumi.Input<string>>;
  /** Analytics Engine bindings: binding name → dataset (created on first write). */
  analyticsEngineDatasets?: Record<string, string>;
  /** Plain-text vars: binding name → value. */
  vars?: Record<string, pulumi.Input<string>>;
  /** Secret vars: binding name → value, always handled as a secret. */
  secrets?: Record<string, pulumi.Input<string>>;
  /** Binding name of Workers AI (one per Worker), e.g. `AI`. */
  ai?: string;
}

/**
 * A Cloudflare Worker (entry bundled when the program runs, bindings, Durable Object migrations planned
 * against the live tag, placement, observability, crons, domains, routes, workers.dev, queue consumers):
 * the package's `Worker` component, created as this resource's child.
 *
 * Bindings name other resources by id or name (strings), where a TypeScript program may pass the
 * component itself; a binding to another Worker's script then waits for it through the value's
 * dependencies rather than for the script resource. Not exposed: `transform` (functions, which no schema
 * type can carry); `liveState` (an object with a function: the live migration tag is read as
 * `WORKERS_PLATFORM_LIVE_TAGS` in the provider's environment says, the Cloudflare API when unset);
 * `localServices` (declarations for the package's local target, which runs TypeScript programs only).
 */
export class Worker extends pulumi.ComponentResource {
  /** Script name, as another Worker's `services` and `durableObjects` bindings take it. */
  readonly scriptName: pulumi.Output<string>;
  /** SHA-256 of the uploaded bundle. */
  readonly bundleSha256: pulumi.Output<string>;

  constructor(name: string, args: WorkerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:Worker", name, {}, opts);
    const worker = new WorkerComponent(
      name,
      {
        accountId: args.accountId,
        scriptName: args.scriptName,
        entry: args.entry,
        compatibilityDate: args.compatibilityDate,
        compatibilityFlags: args.compatibilityFlags,
        nodejsCompat: args.nodejsCompat,
        define: args.define,
        durableObjectMigrations: args.durableObjectMigrations,
        placement: args.placement,
        observability: args.observability,
        crons: args.crons,
        customDomains: args.customDomains,
        routes: args.routes,
        workersDev: args.workersDev,
        queueConsumers: args.queueConsumers?.map(({ queueId, ...settings }) => ({
          queue: { id: queueId },
          ...settings,
        })),
        kvNamespaces: args.kvNamespaces,
        d1Databases: args.d1Databases,
        r2Buckets: args.r2Buckets,
        hyperdrives: args.hyperdrives,
        durableObjects: args.durableObjects,
        services: args.services,
        queues: args.queues,
        analyticsEngineDatasets: args.analyticsEngineDatasets,
        vars: args.vars,
        secrets: args.secrets,
        ai: args.ai === undefined ? undefined : { [args.ai]: true },
      },
      childOptions(this, opts),
    );
    this.scriptName = worker.scriptName;
    this.bundleSha256 = worker.bundleSha256;
    this.registerOutputs({ scriptName: this.scriptName, bundleSha256: this.bundleSha256 });
  }
}
