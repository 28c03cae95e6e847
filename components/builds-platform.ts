import * as pulumi from "@pulumi/pulumi";
import {
  ALLOW_FILE_REPOS,
  API_JWT_SECRET,
  CALLBACK_URL,
  RUNNER_TOKEN,
  RUNNER_URL,
} from "../workers-src/builds/shared/vars";
import type { DurableObjectMigration } from "./durable-objects";
import { Hyperdrive, type HyperdriveArgs, type HyperdriveCaching } from "./hyperdrive";
import type { LiveStateSource } from "./live-state";
import type { SslMode } from "./migration-providers";
import { stackName } from "./naming";
import { alsoAfter, PACKAGE } from "./options";
import { workerSource } from "./package-root";
import { Postgres, type PostgresArgs } from "./postgres";
import { R2Bucket, type R2BucketArgs } from "./r2";
import { Worker, type WorkerArgs, type WorkerObservability } from "./worker";

/** `builds.compute.runnerUrl` of a stack whose build runners the local target starts. */
export const LOCAL_RUNNER = "local";

/** The builds platform's Worker sources and migrations (the package's `workers-src/builds`). */
const src = (...parts: string[]) => workerSource("builds", ...parts);

/** The Build Management Worker's Durable Object history; append only. */
export const MANAGEMENT_MIGRATIONS: DurableObjectMigration[] = [
  { tag: "v1", newClasses: ["BuildScheduler", "BuildBuddy"] },
  { tag: "v2", newClasses: ["BuildContainer"] },
  { tag: "v3", newClasses: ["BuildCapacity"] },
];

export interface BuildLimits {
  timeoutMinutes: number;
  maxConcurrentPerAccount: number;
  maxConcurrentGlobal: number;
  startTimeoutSeconds: number;
  heartbeatTimeoutSeconds: number;
  cacheExpiryDays: number;
  /**
   * `shards`: scheduler objects sharing the accounts by hash, with the global capacity leased to them for
   * `leaseSeconds` at a time. @default shards 1, leaseSeconds 30
   */
  scheduler: { wakeOnQueue: boolean; pollIntervalSeconds: number; shards?: number; leaseSeconds?: number };
  /**
   * `runnerUrl`: one runner or a list sharing the builds; `"local"`: the local target starts
   * `localRunners` runners and wires them in.
   */
  compute: {
    backend: "http" | "container";
    runnerUrl: string | string[];
    /** @default 1 */
    localRunners?: number;
    callbackUrl?: string;
  };
}

export interface BuildsPlatformArgs {
  accountId: pulumi.Input<string>;
  compatibilityDate: string;
  postgres: {
    host: pulumi.Input<string>;
    port: number;
    adminUser: pulumi.Input<string>;
    adminPassword: pulumi.Input<string>;
    adminDatabase: string;
    sslMode: SslMode;
    database: string;
    schema: string;
    appRole: string;
    extensions: string[];
    allowDataLoss: string[];
  };
  hyperdrive: { caching: HyperdriveCaching; originConnectionLimit?: number };
  placement: { client: "smart" | "off"; management: "smart" | "off" };
  observability: WorkerObservability;
  builds: BuildLimits;
  /** Secret that signs the REST API's bearer tokens. */
  apiJwtSecret: pulumi.Input<string>;
  /** Base64 AES-256 key that seals build secrets and webhook secrets at rest. */
  buildVariablesKey: pulumi.Input<string>;
  /** Presented by the Build Management Worker to the build runner. */
  runnerToken: pulumi.Input<string>;
  /** Release tag on every log line. */
  release: string;
  /** Let triggers name `file://` repositories (the local stack only). @default false */
  allowFileRepos?: boolean;
  /** Custom domain of the REST API. */
  clientDomain?: { hostname: string; zoneId: string };
  /**
   * Cloudflare Access in front of the REST API: the Client Worker accepts the token Access adds for a
   * signed-in person (checked against the team domain's keys, `aud` = the application's tag), the account
   * taken from `accountClaim` (or from `accountGroups` with `accountClaim: "groups"`).
   */
  access?: {
    teamDomain: string;
    audience: string;
    accountClaim: string;
    accountGroups?: Record<string, string>;
  };
  /** @default true */
  workersDev?: boolean;
  /** Protect the database, schema and build cache. @default false */
  protect?: boolean;
  liveState?: LiveStateSource;
  /** Passed to the components the platform creates, as each one's own `transform`. */
  transform?: {
    postgres?: PostgresArgs["transform"];
    hyperdrive?: HyperdriveArgs["transform"];
    buildCache?: R2BucketArgs["transform"];
    management?: WorkerArgs["transform"];
    client?: WorkerArgs["transform"];
  };
}

/** The Client Worker's vars for Cloudflare Access (none without it). */
export function accessVars(access: BuildsPlatformArgs["access"]): Record<string, string> {
  if (!access) return {};
  return {
    ACCESS_TEAM_DOMAIN: access.teamDomain,
    ACCESS_AUDIENCE: access.audience,
    ACCESS_ACCOUNT_CLAIM: access.accountClaim,
    ...(access.accountGroups ? { ACCESS_ACCOUNT_GROUPS: JSON.stringify(access.accountGroups) } : {}),
  };
}

/**
 * The builds platform: PostgreSQL schema and migrations, Hyperdrive in front of it, the R2 build cache,
 * the Build Management Worker (Scheduler and per-build BuildBuddy Durable Objects) and the
 * Client Worker (REST API, Smart Placement) that reaches it over an RPC service binding.
 */
export class BuildsPlatform extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:builds:BuildsPlatform`;
  readonly postgres: Postgres;
  readonly hyperdrive: Hyperdrive;
  readonly buildCache: R2Bucket;
  readonly management: Worker;
  readonly client: Worker;
  /** Analytics Engine dataset that receives build metrics. */
  readonly metricsDataset: string;

  constructor(name: string, args: BuildsPlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super(BuildsPlatform.TYPE, name, {}, opts);
    const child = { parent: this };
    const transform = args.transform ?? {};
    this.postgres = new Postgres(
      `${name}-postgres`,
      {
        ...args.postgres,
        migrationsDir: src("db", "migrations"),
        protect: args.protect,
        transform: transform.postgres,
      },
      // Postgres is where the platform first reaches outside itself (the server): it waits for what the
      // platform waits for, and everything else comes after its migrations or its outputs.
      { parent: this, dependsOn: alsoAfter([], opts) },
    );
    this.hyperdrive = new Hyperdrive(
      `${name}-hyperdrive`,
      {
        accountId: args.accountId,
        origin: this.postgres.appConnection,
        caching: args.hyperdrive.caching,
        originConnectionLimit: args.hyperdrive.originConnectionLimit,
        transform: transform.hyperdrive,
      },
      { parent: this, dependsOn: this.postgres.migrations ? [this.postgres.migrations] : [] },
    );
    this.buildCache = new R2Bucket(
      `${name}-build-cache`,
      {
        accountId: args.accountId,
        expiryRules: [{ id: "build-cache-expiry", expireAfterDays: args.builds.cacheExpiryDays }],
        protect: args.protect,
        transform: transform.buildCache,
      },
      child,
    );
    this.metricsDataset = stackName(`${name}-build-metrics`).replace(/-/g, "_");
    const builds = args.builds;
    const shared = { RELEASE: args.release, [ALLOW_FILE_REPOS]: args.allowFileRepos ? "true" : "false" };
    // A stack whose runner is local runs on the local target, which starts the runners and signs
    // development tokens for the REST API: declared here, so that the target needs no knowledge of this app.
    const local = builds.compute.runnerUrl === LOCAL_RUNNER;
    const common = {
      accountId: args.accountId,
      compatibilityDate: args.compatibilityDate,
      nodejsCompat: true,
      observability: args.observability,
      workersDev: args.workersDev,
      liveState: args.liveState,
    };
    this.management = new Worker(
      `${name}-management`,
      {
        ...common,
        entry: src("management", "index.ts"),
        placement: args.placement.management,
        durableObjects: {
          BUILD_SCHEDULER: { className: "BuildScheduler" },
          BUILD_CAPACITY: { className: "BuildCapacity" },
          BUILD_BUDDY: { className: "BuildBuddy" },
          BUILD_CONTAINER: { className: "BuildContainer" },
        },
        durableObjectMigrations: MANAGEMENT_MIGRATIONS,
        hyperdrives: { HYPERDRIVE: this.hyperdrive },
        r2Buckets: { BUILD_CACHE: this.buildCache },
        analyticsEngineDatasets: { BUILD_METRICS: this.metricsDataset },
        vars: {
          BUILD_TIMEOUT_MINUTES: String(builds.timeoutMinutes),
          BUILD_START_TIMEOUT_SECONDS: String(builds.startTimeoutSeconds),
          HEARTBEAT_TIMEOUT_SECONDS: String(builds.heartbeatTimeoutSeconds),
          MAX_CONCURRENT_BUILDS: String(builds.maxConcurrentPerAccount),
          MAX_CONCURRENT_BUILDS_GLOBAL: String(builds.maxConcurrentGlobal),
          SCHEDULER_WAKE: builds.scheduler.wakeOnQueue ? "on" : "off",
          SCHEDULER_POLL_SECONDS: String(builds.scheduler.pollIntervalSeconds),
          SCHEDULER_SHARDS: String(builds.scheduler.shards ?? 1),
          SCHEDULER_LEASE_SECONDS: String(builds.scheduler.leaseSeconds ?? 30),
          COMPUTE_BACKEND: builds.compute.backend,
          [RUNNER_URL]: [builds.compute.runnerUrl].flat().join(","),
          ...(builds.compute.callbackUrl ? { [CALLBACK_URL]: builds.compute.callbackUrl } : {}),
          ...shared,
        },
        secrets: { [RUNNER_TOKEN]: args.runnerToken, BUILD_VARIABLES_KEY: args.buildVariablesKey },
        transform: transform.management,
        localServices: local
          ? [
              {
                kind: "build-runner",
                urlVar: RUNNER_URL,
                count: builds.compute.localRunners ?? 1,
                token: args.runnerToken,
                maxConcurrent: builds.maxConcurrentGlobal,
                allowFileRepos: args.allowFileRepos ?? false,
                ...(builds.compute.callbackUrl ? { callbackUrl: builds.compute.callbackUrl } : {}),
              },
            ]
          : [],
      },
      child,
    );
    this.client = new Worker(
      `${name}-client`,
      {
        ...common,
        entry: src("client", "index.ts"),
        placement: args.placement.client,
        hyperdrives: { HYPERDRIVE: this.hyperdrive },
        services: { MANAGEMENT: { service: this.management, entrypoint: "BuildManagement" } },
        analyticsEngineDatasets: { BUILD_METRICS: this.metricsDataset },
        vars: { ...shared, ...accessVars(args.access) },
        secrets: { [API_JWT_SECRET]: args.apiJwtSecret, BUILD_VARIABLES_KEY: args.buildVariablesKey },
        localServices: local ? [{ kind: "dev-token", secret: args.apiJwtSecret }] : [],
        customDomains: args.clientDomain ? [args.clientDomain] : [],
        transform: transform.client,
      },
      child,
    );
    this.registerOutputs({
      clientScript: this.client.scriptName,
      managementScript: this.management.scriptName,
      buildCacheBucket: this.buildCache.bucketName,
    });
  }
}
