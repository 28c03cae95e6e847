import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { DurableObjectMigration } from "./durable-objects";
import { KvNamespace } from "./kv";
import type { LiveStateSource } from "./live-state";
import { PACKAGE } from "./options";
import { Worker, type WorkerObservability } from "./worker";

/** The demo Worker's Durable Object history; append only. */
export const DEMO_MIGRATIONS: DurableObjectMigration[] = [{ tag: "v1", newClasses: ["DemoObject"] }];

export interface FrameworkDemoArgs {
  accountId: pulumi.Input<string>;
  compatibilityDate: string;
  placement: "smart" | "off";
  observability: WorkerObservability;
  domain?: { hostname: string; zoneId: string };
  /** @default true */
  workersDev?: boolean;
  /** Protect the KV namespace. @default false */
  protect?: boolean;
  liveState?: LiveStateSource;
}

/** The demo app on the Workers framework: one Worker, its KV namespace and its Durable Object class. */
export class FrameworkDemo extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:framework:FrameworkDemo`;
  readonly kv: KvNamespace;
  readonly worker: Worker;

  constructor(name: string, args: FrameworkDemoArgs, opts?: pulumi.ComponentResourceOptions) {
    super(FrameworkDemo.TYPE, name, {}, opts);
    this.kv = new KvNamespace(
      `${name}-kv`,
      { accountId: args.accountId, protect: args.protect },
      { parent: this },
    );
    this.worker = new Worker(
      `${name}-worker`,
      {
        accountId: args.accountId,
        entry: path.join(__dirname, "..", "workers-src", "demo", "index.ts"),
        compatibilityDate: args.compatibilityDate,
        placement: args.placement,
        observability: args.observability,
        workersDev: args.workersDev,
        kvNamespaces: { DEMO_KV: this.kv },
        durableObjects: { DEMO_OBJECTS: { className: "DemoObject" } },
        durableObjectMigrations: DEMO_MIGRATIONS,
        customDomains: args.domain ? [args.domain] : [],
        liveState: args.liveState,
      },
      { parent: this },
    );
    this.registerOutputs({ scriptName: this.worker.scriptName });
  }
}
