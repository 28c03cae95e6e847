import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { demoApp } from "../workers-src/demo/app";
import type { DurableObjectMigration } from "./durable-objects";
import { deriveMigrations, type FrameworkAppDeclaration, readMigrationLock } from "./framework-app";
import { KvNamespace } from "./kv";
import type { LiveStateSource } from "./live-state";
import { PACKAGE } from "./options";
import { Worker, type WorkerObservability } from "./worker";

const DEMO_DIR = path.join(__dirname, "..", "workers-src", "demo");

/** A framework app: its entry, its declaration, and the lock file recording its migration steps. */
export interface FrameworkAppSource {
  entry: string;
  declaration: FrameworkAppDeclaration;
  lockFile: string;
}

export const DEMO_APP: FrameworkAppSource = {
  entry: path.join(DEMO_DIR, "index.ts"),
  declaration: demoApp,
  lockFile: path.join(DEMO_DIR, "migrations.lock.json"),
};

/** The demo Worker's Durable Object history: its lock file, plus a step the declaration asks for. */
export const DEMO_MIGRATIONS: DurableObjectMigration[] = deriveMigrations(
  DEMO_APP.declaration,
  readMigrationLock(DEMO_APP.lockFile),
).steps;

export interface FrameworkDemoArgs {
  accountId: pulumi.Input<string>;
  compatibilityDate: string;
  placement: "smart" | "off";
  observability: WorkerObservability;
  domain?: { hostname: string; zoneId: string };
  /** @default true */
  workersDev?: boolean;
  /** Protect the KV namespaces. @default false */
  protect?: boolean;
  liveState?: LiveStateSource;
  /** The app to deploy. @default the framework's demo app */
  app?: FrameworkAppSource;
}

/**
 * The demo app on the Workers framework: one Worker with its KV namespaces, Durable Object classes and cron
 * triggers, all derived from the app's declaration.
 */
export class FrameworkDemo extends pulumi.ComponentResource {
  static readonly TYPE = `${PACKAGE}:framework:FrameworkDemo`;
  /** The first declared KV namespace. */
  readonly kv: KvNamespace;
  /** Every declared KV namespace, by binding. */
  readonly kvNamespaces: Record<string, KvNamespace>;
  readonly worker: Worker;

  constructor(name: string, args: FrameworkDemoArgs, opts?: pulumi.ComponentResourceOptions) {
    super(FrameworkDemo.TYPE, name, {}, opts);
    const app = args.app ?? DEMO_APP;
    const { declaration } = app;
    if (declaration.kvNamespaces.length === 0)
      throw new Error(`FrameworkDemo ${name}: the app declares no KV namespace`);
    // Bindings and migrations come from the app's declaration; the first namespace keeps the name the
    // component has always given it.
    this.kvNamespaces = Object.fromEntries(
      declaration.kvNamespaces.map((binding, i) => [
        binding,
        new KvNamespace(
          i === 0 ? `${name}-kv` : `${name}-kv-${binding.toLowerCase().replace(/_/g, "-")}`,
          { accountId: args.accountId, protect: args.protect },
          { parent: this },
        ),
      ]),
    );
    this.kv = this.kvNamespaces[declaration.kvNamespaces[0] as string] as KvNamespace;
    const history =
      app === DEMO_APP
        ? DEMO_MIGRATIONS
        : deriveMigrations(declaration, readMigrationLock(app.lockFile)).steps;
    this.worker = new Worker(
      `${name}-worker`,
      {
        accountId: args.accountId,
        entry: app.entry,
        compatibilityDate: args.compatibilityDate,
        placement: args.placement,
        observability: args.observability,
        workersDev: args.workersDev,
        kvNamespaces: this.kvNamespaces,
        durableObjects: declaration.durableObjects,
        durableObjectMigrations: history,
        customDomains: args.domain ? [args.domain] : [],
        crons: declaration.crons ?? [],
        liveState: args.liveState,
      },
      { parent: this },
    );
    this.registerOutputs({ scriptName: this.worker.scriptName });
  }
}
