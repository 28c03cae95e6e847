/** Binding kinds of a planned Worker that name a resource by its id or name. */
type ResourceBindings = "d1Databases" | "r2Buckets";

/**
 * The first Worker whose bindings of one kind hold `resource`, and the binding's name: the way to reach a
 * resource from Node through Miniflare (`getD1Database`, `getR2Bucket`).
 */
export function firstBinding<K extends ResourceBindings>(
  workers: readonly ({ name: string } & Record<K, Record<string, string>>)[],
  kind: K,
  resource: string,
): { worker: string; binding: string } | undefined {
  for (const w of workers) {
    const binding = Object.entries(w[kind]).find(([, id]) => id === resource)?.[0];
    if (binding !== undefined) return { worker: w.name, binding };
  }
  return undefined;
}
