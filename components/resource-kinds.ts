/**
 * The resource types that hold data a deploy cannot bring back: deleting or replacing one loses what is
 * stored in it. Read by the graph diff's risks (local/diff.ts) and by the data-safety policies, so both
 * agree on what "stateful" means.
 */
export const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  "cloudflare:index/d1Database:D1Database",
  "cloudflare:index/r2Bucket:R2Bucket",
  "cloudflare:index/workersKvNamespace:WorkersKvNamespace",
  "postgresql:index/database:Database",
  "postgresql:index/schema:Schema",
]);

/** Whether a resource of `type` holds data (see `STATEFUL_TYPES`). */
export function isStateful(type: string): boolean {
  return STATEFUL_TYPES.has(type);
}
