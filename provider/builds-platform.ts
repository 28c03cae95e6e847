import * as pulumi from "@pulumi/pulumi";
import { BuildsPlatform as BuildsPlatformComponent } from "../components";
import { childOptions } from "./child";
import type { ComputeBackend, Placement, SslMode } from "./enums";
import type { HyperdriveCaching } from "./hyperdrive";
import type { WorkerObservability } from "./worker";

/** The platform's PostgreSQL: the server it reaches as admin, and what it creates there. */
export interface BuildsPostgres {
  host: pulumi.Input<string>;
  port: number;
  adminUser: pulumi.Input<string>;
  /** Always handled as a secret. */
  adminPassword: pulumi.Input<string>;
  /** Database the admin connects to before the platform's database exists. */
  adminDatabase: string;
  sslMode: SslMode;
  database: string;
  schema: string;
  /** Login role the Workers connect as (through Hyperdrive); its password is generated. */
  appRole: string;
  extensions: string[];
  /** Migration files allowed to destroy data. */
  allowDataLoss: string[];
}

export interface BuildsHyperdrive {
  caching: HyperdriveCaching;
  originConnectionLimit?: number;
}

export interface BuildsPlacement {
  client: Placement;
  management: Placement;
}

export interface BuildScheduler {
  /** Wake the scheduler when a build is queued, rather than only on its poll. */
  wakeOnQueue: boolean;
  pollIntervalSeconds: number;
  /** Scheduler objects sharing the accounts by hash. Default: 1. */
  shards?: number;
  /** Seconds a shard leases its part of the global capacity for. Default: 30. */
  leaseSeconds?: number;
}

export interface BuildCompute {
  backend: ComputeBackend;
  /** Build runners sharing the builds; `["local"]` asks the package's local target for its own runners. */
  runnerUrls: string[];
  /** Runners the local target starts for `["local"]`. Default: 1. */
  localRunners?: number;
  /** Where runners report; the Build Management Worker's own URL when omitted. */
  callbackUrl?: string;
}

export interface BuildLimits {
  timeoutMinutes: number;
  maxConcurrentPerAccount: number;
  maxConcurrentGlobal: number;
  startTimeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  /** Days a build cache entry lives after its last write. */
  cacheExpiryDays: number;
  scheduler: BuildScheduler;
  compute: BuildCompute;
}

/** A custom domain of the REST API. */
export interface ClientDomain {
  hostname: string;
  zoneId: string;
}

export interface BuildsPlatformArgs {
  /** Cloudflare account id. */
  accountId: pulumi.Input<string>;
  /** workerd compatibility date of both Workers, `YYYY-MM-DD`. */
  compatibilityDate: string;
  /** The PostgreSQL server and what the platform creates on it. */
  postgres: BuildsPostgres;
  /** Hyperdrive in front of the platform's database. */
  hyperdrive: BuildsHyperdrive;
  /** Placement of each Worker. */
  placement: BuildsPlacement;
  /** Workers Logs of both Workers. */
  observability: WorkerObservability;
  /** Build limits, scheduling and runners. */
  builds: BuildLimits;
  /** Secret that signs the REST API's bearer tokens. */
  apiJwtSecret: pulumi.Input<string>;
  /** Base64 AES-256 key that seals build secrets and webhook secrets at rest. */
  buildVariablesKey: pulumi.Input<string>;
  /** Presented by the Build Management Worker to the build runners. */
  runnerToken: pulumi.Input<string>;
  /** Release tag on every log line. */
  release: string;
  /** Let triggers name `file://` repositories (local walk-throughs only). Default: false. */
  allowFileRepos?: boolean;
  /** Custom domain of the REST API. Default: none. */
  clientDomain?: ClientDomain;
  /** Serve both Workers on workers.dev. Default: true. */
  workersDev?: boolean;
  /** Protect the database, schema and build cache. Default: false. */
  protect?: boolean;
}

/**
 * The builds platform (PostgreSQL schema and migrations, Hyperdrive, the R2 build cache, the Build
 * Management Worker and the Client Worker's REST API): the package's `BuildsPlatform` component, created
 * as this resource's child. The Workers are bundled from the package's own sources.
 *
 * Not exposed: `transform` (functions, which no schema type can carry); `liveState` (an object with a
 * function: see `Worker`); the child components themselves (the provider passes names and ids, not
 * resources), whose names and ids are outputs here instead.
 */
export class BuildsPlatform extends pulumi.ComponentResource {
  /** Script name of the Client Worker (the REST API). */
  readonly clientScript: pulumi.Output<string>;
  /** Script name of the Build Management Worker. */
  readonly managementScript: pulumi.Output<string>;
  /** Name of the R2 build cache bucket. */
  readonly buildCacheBucket: pulumi.Output<string>;
  /** Id of the Hyperdrive config the Workers reach PostgreSQL through. */
  readonly hyperdriveId: pulumi.Output<string>;
  /** Analytics Engine dataset that receives build metrics. */
  readonly metricsDataset: pulumi.Output<string>;

  constructor(name: string, args: BuildsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("workers-platform:index:BuildsPlatform", name, {}, opts);
    const { runnerUrls, ...compute } = args.builds.compute;
    const platform = new BuildsPlatformComponent(
      name,
      {
        accountId: args.accountId,
        compatibilityDate: args.compatibilityDate,
        postgres: args.postgres,
        hyperdrive: args.hyperdrive,
        placement: args.placement,
        observability: args.observability,
        builds: {
          ...args.builds,
          // One URL is given as a string, as the stack config gives it, so that `local` keeps naming the
          // local target's runners (the component joins a list with commas either way).
          compute: { ...compute, runnerUrl: runnerUrls.length === 1 ? runnerUrls[0]! : runnerUrls },
        },
        apiJwtSecret: args.apiJwtSecret,
        buildVariablesKey: args.buildVariablesKey,
        runnerToken: args.runnerToken,
        release: args.release,
        allowFileRepos: args.allowFileRepos,
        clientDomain: args.clientDomain,
        workersDev: args.workersDev,
        protect: args.protect,
      },
      childOptions(this, opts),
    );
    this.clientScript = platform.client.scriptName;
    this.managementScript = platform.management.scriptName;
    this.buildCacheBucket = platform.buildCache.bucketName;
    this.hyperdriveId = platform.hyperdrive.id;
    this.metricsDataset = pulumi.output(platform.metricsDataset);
    this.registerOutputs({
      clientScript: this.clientScript,
      managementScript: this.managementScript,
      buildCacheBucket: this.buildCacheBucket,
      hyperdriveId: this.hyperdriveId,
      metricsDataset: this.metricsDataset,
    });
  }
}
