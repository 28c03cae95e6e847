// Pure types, importable by Worker code as well as by the Pulumi program.

/**
 * What a framework app declares once: its Durable Object classes (binding → class) and KV namespaces. The
 * Worker's bindings and its Durable Object migrations are derived from it; nothing repeats them by hand.
 */
export interface FrameworkAppDeclaration {
  /** Binding name → the class, exported by the app's entry module. */
  durableObjects: Record<string, { className: string }>;
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
