/**
 * Public API: components another Pulumi program can import to declare Workers platforms.
 */

export { BuildsPlatform, type BuildsPlatformArgs, MANAGEMENT_MIGRATIONS } from "./builds-platform";
export { type BundleOptions, bundleWorker, type WorkerBundle } from "./bundle";
export { CloudflareApi, CloudflareApiError, type CloudflareApiOptions } from "./cloudflare-api";
export { D1Database, type D1DatabaseArgs } from "./d1";
export {
  type DurableObjectMigration,
  type MigrationPlan,
  MigrationPlanError,
  planDurableObjectMigrations,
} from "./durable-objects";
export {
  FrameworkApp,
  type FrameworkAppArgs,
  type FrameworkAppDeclaration,
  type FrameworkAppSource,
  KV_WRITER_BINDING,
  KV_WRITER_CLASS,
} from "./framework-app";
export { Hyperdrive, type HyperdriveArgs, type HyperdriveCaching, type PostgresOrigin } from "./hyperdrive";
export { KvNamespace, type KvNamespaceArgs } from "./kv";
export {
  defaultLiveState,
  LIVE_TAGS_ENV,
  type LiveStateSource,
  liveStateFromCloudflare,
  liveStateFromFile,
  noLiveState,
} from "./live-state";
export { D1Migrations, SqlMigrations } from "./migration-providers";
export { physicalName, stackName } from "./naming";
export type { Transform } from "./options";
export { Postgres, type PostgresArgs } from "./postgres";
export { Queue, type QueueArgs } from "./queue";
export { R2Bucket, type R2BucketArgs, type R2ExpiryRule } from "./r2";
export { SqlMigrationError } from "./sql-migrations";
export {
  type DurableObjectBinding,
  type QueueConsumer,
  type ServiceBinding,
  Worker,
  type WorkerArgs,
  type WorkerObservability,
} from "./worker";
