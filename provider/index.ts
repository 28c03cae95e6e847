/**
 * The package's components for every Pulumi language: `pulumi package add` runs this folder as a
 * component provider plugin (see README.md). Each class here is a thin layer over the component of the
 * same name in `components/`, within what Pulumi's schema analyzer accepts: args are interfaces of
 * strings, numbers, booleans, arrays, string-keyed maps, nested interfaces and enums; other resources are
 * named by id or name rather than passed as objects; no field holds a function. The outputs are the
 * classes' properties. Defaults are stated in prose ("Default: ..."), since the analyzer keeps a doc
 * comment's text and drops its tags.
 *
 * Only the provider's classes, enums and arg types are exported: the plugin host serves every component
 * class this module exports, by class name.
 */

export type {
  BuildCompute,
  BuildLimits,
  BuildScheduler,
  BuildsHyperdrive,
  BuildsPlacement,
  BuildsPlatformArgs,
  BuildsPostgres,
  ClientDomain,
} from "./builds-platform";
export { BuildsPlatform } from "./builds-platform";
export type { D1DatabaseArgs } from "./d1";
export { D1Database } from "./d1";
export { ComputeBackend, Placement, SslMode } from "./enums";
export type { HyperdriveArgs, HyperdriveCaching, PostgresOrigin } from "./hyperdrive";
export { Hyperdrive } from "./hyperdrive";
export type { KvNamespaceArgs } from "./kv";
export { KvNamespace } from "./kv";
export type { PostgresArgs } from "./postgres";
export { Postgres } from "./postgres";
export type { QueueArgs } from "./queue";
export { Queue } from "./queue";
export type { R2BucketArgs, R2ExpiryRule } from "./r2";
export { R2Bucket } from "./r2";
export type {
  DurableObjectBinding,
  DurableObjectMigration,
  QueueConsumer,
  RenamedClass,
  ServiceBinding,
  TransferredClass,
  WorkerArgs,
  WorkerCustomDomain,
  WorkerObservability,
  WorkerRoute,
} from "./worker";
export { Worker } from "./worker";
