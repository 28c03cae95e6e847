// What an app on the framework declares about itself, once. Pure types: imported by the app's Worker code
// and by the Pulumi components that deploy it (components/framework-app.ts), which depend on the
// framework for it, never the other way round.

/** A Durable Object class of the app, bound to a name in the Worker's env. */
export interface DeclaredDurableObject {
  /** The class, exported by the app's entry module. */
  className: string;
}

/**
 * What a framework app declares once: its bindings (Durable Object classes, KV namespaces), its crons and
 * the changes to its classes its migrations lock has to record. The Worker's bindings, its cron triggers
 * and its Durable Object migration steps are derived from it and from the app's append-only lock file
 * (`migrations.lock.json` beside it); nothing repeats them by hand.
 */
export interface FrameworkAppDeclaration {
  /** Binding name → the class, exported by the app's entry module. */
  durableObjects: Record<string, DeclaredDurableObject>;
  /** KV namespace bindings. */
  kvNamespaces: string[];
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
