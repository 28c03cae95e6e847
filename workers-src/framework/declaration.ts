// What an app on the framework declares about itself, once. Pure types: imported by the app's Worker code
// and by the Pulumi components that deploy it (components/framework-app.ts), which depend on the
// framework for it, never the other way round.

/** A Durable Object class of the app, bound to a name in the Worker's env. */
export interface DeclaredDurableObject {
  /** The class, exported by the app's entry module. */
  className: string;
}

/**
 * A KV namespace that opts out of the framework's single writer: its writes go straight to KV and
 * concurrent writes to one key are **last-write-wins** (a chained write or `update` racing another one on
 * the same key may be lost, though it was acknowledged). For data written by one writer at a time (a
 * cron's output, a cache) or where `update(key, fn, { ifVersion })` with a retry is enough.
 */
export interface LastWriteWinsKvNamespace {
  binding: string;
  writes: "last-write-wins";
}

/**
 * A declared KV namespace: its binding name alone means **serialised writes**, the default: every write
 * to the namespace through `kvStore(namespace, { writer })` (put, add, delete, update, and so every chained
 * write) goes through the framework's per-key writer, a Durable Object (class `KvWriter`, bound as
 * `KV_WRITER`), so concurrent writes to one key are applied one after the other and none is lost. The
 * writer's binding and its migration are derived: the app's entry module exports `KvWriter` from the
 * framework's storage. `{ binding, writes: "last-write-wins" }` opts the namespace out.
 */
export type DeclaredKvNamespace = string | LastWriteWinsKvNamespace;

/**
 * What a framework app declares once: its bindings (Durable Object classes, KV namespaces), its crons and
 * the changes to its classes its migrations lock has to record. The Worker's bindings, its cron triggers
 * and its Durable Object migration steps are derived from it and from the app's append-only lock file
 * (`migrations.lock.json` beside it); nothing repeats them by hand.
 */
export interface FrameworkAppDeclaration {
  /** Binding name → the class, exported by the app's entry module. */
  durableObjects: Record<string, DeclaredDurableObject>;
  /**
   * KV namespace bindings: a name alone has serialised writes (through the framework's writer object, the
   * default); `{ binding, writes: "last-write-wins" }` opts out. When at least one namespace is
   * serialised, the Worker gets the writer's binding (`KV_WRITER` → class `KvWriter`) and its migration.
   */
  kvNamespaces: DeclaredKvNamespace[];
  /** Classes renamed since the last recorded step: declared, never guessed from a vanished name. */
  renamedClasses?: { from: string; to: string }[];
  /** Classes removed on purpose, with every object's data: nothing else may disappear from the declaration. */
  deletedClasses?: { className: string; allowDataLoss: true }[];
  /**
   * Cron expressions the app handles (`app.cron(expression, handler)`): each becomes one of the Worker's
   * cron triggers.
   */
  crons?: string[];
}
