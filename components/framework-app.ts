import { readFileSync, writeFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import type { DeclaredDurableObject, FrameworkAppDeclaration } from "../workers-src/framework/declaration";
import { type DurableObjectMigration, replayMigrations } from "./durable-objects";
import { KvNamespace, type KvNamespaceArgs } from "./kv";
import type { LiveStateSource } from "./live-state";
import { PACKAGE } from "./options";
import { Worker, type WorkerArgs, type WorkerObservability } from "./worker";

// The framework (workers-src/framework) owns the type of an app's declaration; the components only read it.
export type { FrameworkAppDeclaration } from "../workers-src/framework/declaration";

/**
 * The framework's per-key KV writer (`KvWriter` in workers-src/framework/storage): the binding an app's
 * Worker reaches it by and the class its entry module exports. Derived for every app with a KV namespace
 * whose writes are serialised (the default).
 */
export { KV_WRITER_BINDING, KV_WRITER_CLASS } from "../workers-src/framework/storage/kv-writer-names";

import { KV_WRITER_BINDING, KV_WRITER_CLASS } from "../workers-src/framework/storage/kv-writer-names";

/** A declared KV namespace and how writes to one of its keys meet. */
export interface KvNamespaceWrites {
  binding: string;
  /** `serialized`: through the writer object, one after the other; `last-write-wins`: straight to KV. */
  writes: "serialized" | "last-write-wins";
}

/** The declaration's KV namespaces, each with its write mode (a plain binding name is serialised). */
export function kvNamespacesOf(declaration: FrameworkAppDeclaration): KvNamespaceWrites[] {
  return declaration.kvNamespaces.map((entry) =>
    typeof entry === "string"
      ? { binding: entry, writes: "serialized" }
      : { binding: entry.binding, writes: entry.writes },
  );
}

/**
 * The Worker's Durable Object bindings: the declared ones, plus the KV writer (`KV_WRITER` → `KvWriter`)
 * when a namespace's writes are serialised. Refuses a declaration that takes the writer's binding or class
 * name for something else.
 */
export function durableObjectsOf(
  declaration: FrameworkAppDeclaration,
): Record<string, DeclaredDurableObject> {
  const declared = declaration.durableObjects;
  const needsWriter = kvNamespacesOf(declaration).some((ns) => ns.writes === "serialized");
  for (const [binding, { className }] of Object.entries(declared)) {
    if (binding === KV_WRITER_BINDING || className === KV_WRITER_CLASS) {
      throw new MigrationDerivationError(
        `Durable Object binding ${binding} (class ${className}): ${KV_WRITER_BINDING} and ${KV_WRITER_CLASS} are the framework's KV writer, derived from the KV namespaces; declare neither`,
      );
    }
  }
  if (kvNamespacesOf(declaration).some((ns) => ns.binding === KV_WRITER_BINDING)) {
    throw new MigrationDerivationError(
      `KV namespace ${KV_WRITER_BINDING}: the name is the framework's KV writer binding; choose another`,
    );
  }
  return needsWriter ? { ...declared, [KV_WRITER_BINDING]: { className: KV_WRITER_CLASS } } : declared;
}

/** The append-only record of the migration steps already derived, kept in the repository. */
export interface MigrationLock {
  steps: DurableObjectMigration[];
}

export class MigrationDerivationError extends Error {
  override name = "MigrationDerivationError";
}

/**
 * The migration history for a declaration: the lock's steps, plus one new step when the declared classes
 * differ from what the lock's steps leave (`v<n>` after the last). Pure. Refuses, naming the class, a class
 * that disappeared without being renamed or deleted with the data-loss opt-in, a rename whose source is
 * not a live class or whose target already is one, and a deletion of a class still declared.
 */
export function deriveMigrations(
  declaration: FrameworkAppDeclaration,
  lock: MigrationLock,
): { steps: DurableObjectMigration[]; added: DurableObjectMigration | undefined } {
  const { live } = replayMigrations(lock.steps);
  const declared = new Set(Object.values(durableObjectsOf(declaration)).map((d) => d.className));
  const renamed = (declaration.renamedClasses ?? []).filter(
    ({ from, to }) => live.has(from) || !live.has(to),
  );
  for (const { from, to } of renamed) {
    if (!live.has(from)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} cannot be renamed to ${to}: no live class is named ${from}`,
      );
    }
    if (live.has(to)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} cannot be renamed to ${to}: ${to} already exists`,
      );
    }
    if (!declared.has(to)) {
      throw new MigrationDerivationError(
        `Durable Object class ${from} is renamed to ${to}, but no binding declares ${to}`,
      );
    }
  }
  const deleted = (declaration.deletedClasses ?? []).filter(({ className }) => live.has(className));
  for (const { className, allowDataLoss } of deleted) {
    if (declared.has(className)) {
      throw new MigrationDerivationError(`Durable Object class ${className} is both declared and deleted`);
    }
    if (allowDataLoss !== true) {
      throw new MigrationDerivationError(
        `deleting Durable Object class ${className} needs allowDataLoss: true`,
      );
    }
  }
  const renamedFrom = new Set(renamed.map((r) => r.from));
  const renamedTo = new Set(renamed.map((r) => r.to));
  const deletedNames = new Set(deleted.map((d) => d.className));
  for (const c of live.keys()) {
    if (!declared.has(c) && !renamedFrom.has(c) && !deletedNames.has(c)) {
      if (c === KV_WRITER_CLASS) {
        throw new MigrationDerivationError(
          `Durable Object class ${c}, the framework's KV writer, is no longer needed (every KV namespace is last-write-wins): declare its deletion, { className: "${c}", allowDataLoss: true }, or keep a namespace's writes serialised`,
        );
      }
      throw new MigrationDerivationError(
        `Durable Object class ${c} is no longer declared: declare a rename ({ from: "${c}", to: ... }) or a deletion with allowDataLoss: true (every ${c} object and its data are destroyed)`,
      );
    }
  }
  const created = [...declared].filter((c) => !live.has(c) && !renamedTo.has(c)).sort();
  if (created.length === 0 && renamed.length === 0 && deleted.length === 0)
    return { steps: lock.steps, added: undefined };
  const added: DurableObjectMigration = { tag: `v${lock.steps.length + 1}` };
  if (created.length > 0) added.newClasses = created;
  if (renamed.length > 0) added.renamedClasses = renamed.map(({ from, to }) => ({ from, to }));
  if (deleted.length > 0) {
    added.deletedClasses = deleted.map((d) => d.className).sort();
    added.allowDataLoss = true;
  }
  return { steps: [...lock.steps, added], added };
}

export function readMigrationLock(file: string): MigrationLock {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return { steps: [] };
  }
  const lock = JSON.parse(text) as MigrationLock;
  if (!Array.isArray(lock.steps)) throw new MigrationDerivationError(`${file}: "steps" must be an array`);
  return lock;
}

/** Appends the derived step to the lock file (never rewrites a recorded one). */
export function recordMigrations(
  file: string,
  declaration: FrameworkAppDeclaration,
): DurableObjectMigration | undefined {
  const lock = readMigrationLock(file);
  const { steps, added } = deriveMigrations(declaration, lock);
  if (added) writeFileSync(file, `${JSON.stringify({ steps }, null, 2)}\n`);
  return added;
}

/** A framework app as a program deploys it: its Worker entry, its declaration and its migrations lock file. */
export interface FrameworkAppSource {
  /** The app's entry module (TypeScript or JavaScript), which exports its Durable Object classes. */
  entry: string;
  declaration: FrameworkAppDeclaration;
  /** The app's append-only lock file (`npm run lock:migrations` appends to it); none yet is an empty lock. */
  lockFile: string;
}

/** An app's Durable Object history: its lock file's steps, plus the step its declaration asks for. */
export function migrationsOf(app: FrameworkAppSource): DurableObjectMigration[] {
  return deriveMigrations(app.declaration, readMigrationLock(app.lockFile)).steps;
}

export interface FrameworkAppArgs {
  accountId: pulumi.Input<string>;
  /** The app to deploy. */
  app: FrameworkAppSource;
  compatibilityDate: string;
  /** @default "off" */
  placement?: "smart" | "off";
  observability?: WorkerObservability;
  domain?: { hostname: string; zoneId: string };
  /** @default true */
  workersDev?: boolean;
  /** Protect the KV namespaces. @default false */
  protect?: boolean;
  liveState?: LiveStateSource;
  /**
   * Adjusts the args of the underlying resources: `worker` is the Worker's own `transform`, `kvNamespaces`
   * each KV namespace's own `transform` (it applies to every declared namespace).
   */
  transform?: {
    worker?: WorkerArgs["transform"];
    kvNamespaces?: KvNamespaceArgs["transform"];
  };
}

/**
 * An app on the Workers framework: one Worker with a KV namespace per declared binding, its Durable Object
 * classes (and the framework's KV writer when a namespace's writes are serialised) and its cron triggers, all derived from the app's declaration, and its Durable Object migrations
 * from the declaration and the app's lock file (read when the component is created).
 */
export class FrameworkApp extends pulumi.ComponentResource {
  /**
   * The token this component had when it deployed only the repository's demo app: a type token is part of
   * the URN of the component and of every resource under it, so a new one would replace a deployed app's
   * KV namespaces (and their data) and its Worker.
   */
  static readonly TYPE = `${PACKAGE}:framework:FrameworkDemo`;
  /** Every declared KV namespace, by binding. */
  readonly kvNamespaces: Record<string, KvNamespace>;
  readonly worker: Worker;

  constructor(name: string, args: FrameworkAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super(FrameworkApp.TYPE, name, {}, opts);
    const { declaration } = args.app;
    // The first namespace keeps the name the component has always given it.
    this.kvNamespaces = Object.fromEntries(
      kvNamespacesOf(declaration).map(({ binding }, i) => [
        binding,
        new KvNamespace(
          i === 0 ? `${name}-kv` : `${name}-kv-${binding.toLowerCase().replace(/_/g, "-")}`,
          { accountId: args.accountId, protect: args.protect, transform: args.transform?.kvNamespaces },
          { parent: this },
        ),
      ]),
    );
    this.worker = new Worker(
      `${name}-worker`,
      {
        accountId: args.accountId,
        entry: args.app.entry,
        compatibilityDate: args.compatibilityDate,
        placement: args.placement,
        observability: args.observability,
        workersDev: args.workersDev,
        kvNamespaces: this.kvNamespaces,
        durableObjects: durableObjectsOf(declaration),
        durableObjectMigrations: migrationsOf(args.app),
        customDomains: args.domain ? [args.domain] : [],
        crons: declaration.crons ?? [],
        liveState: args.liveState,
        transform: args.transform?.worker,
      },
      // The Worker starts serving code that may rely on what the app was made to wait for.
      { parent: this, ...(opts?.dependsOn === undefined ? {} : { dependsOn: opts.dependsOn }) },
    );
    this.registerOutputs({ scriptName: this.worker.scriptName });
  }
}
