/**
 * The expiry rules of an R2 bucket's lifecycle configuration, applied by the local target: workerd's R2
 * store keeps objects forever, so the runner deletes expired ones itself (a minute after start and then every hour).
 */

import { firstBinding } from "./bindings";

/** One enabled rule that deletes objects: after an age, or from a date on. */
export interface LocalExpiryRule {
  id: string;
  /** Key prefix the rule covers; "" for the whole bucket. */
  prefix: string;
  /** Objects older than this many seconds (since they were written) are deleted. */
  maxAgeSeconds?: number;
  /** Objects are deleted once this time has passed (milliseconds since the epoch). */
  deleteFrom?: number;
}

export interface LocalLifecycle {
  bucketName: string;
  rules: LocalExpiryRule[];
  /** Parts of the configuration with no local effect, for the start's "not emulated" list. */
  ignored: string[];
}

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === "object" && v !== null && !Array.isArray(v);

/** The local lifecycle of an `R2BucketLifecycle` resource's inputs. Pure. */
export function lifecycleOf(bucketName: string, rules: unknown): LocalLifecycle {
  const out: LocalLifecycle = { bucketName, rules: [], ignored: [] };
  for (const [i, rule] of (Array.isArray(rules) ? rules : []).entries()) {
    if (!isRec(rule) || rule.enabled === false) continue;
    const id = typeof rule.id === "string" ? rule.id : `rule ${i + 1}`;
    const prefix =
      isRec(rule.conditions) && typeof rule.conditions.prefix === "string" ? rule.conditions.prefix : "";
    const condition = isRec(rule.deleteObjectsTransition)
      ? rule.deleteObjectsTransition.condition
      : undefined;
    if (isRec(condition)) {
      if (condition.type === "Age" && typeof condition.maxAge === "number" && condition.maxAge > 0) {
        out.rules.push({ id, prefix, maxAgeSeconds: condition.maxAge });
      } else if (
        condition.type === "Date" &&
        typeof condition.date === "string" &&
        !Number.isNaN(Date.parse(condition.date))
      ) {
        out.rules.push({ id, prefix, deleteFrom: Date.parse(condition.date) });
      } else {
        out.ignored.push(`${id}: a delete condition of type ${String(condition.type)}`);
      }
    }
    if (Array.isArray(rule.storageClassTransitions) && rule.storageClassTransitions.length > 0)
      out.ignored.push(`${id}: storage class transitions`);
    if (isRec(rule.abortMultipartUploadsTransition)) out.ignored.push(`${id}: multipart upload aborts`);
  }
  return out;
}

/** Whether `rule` deletes an object under `key` written at `uploaded`, at `now`. Pure. */
export function expires(rule: LocalExpiryRule, key: string, uploaded: Date, now: Date): boolean {
  if (!key.startsWith(rule.prefix)) return false;
  if (rule.maxAgeSeconds !== undefined && now.getTime() - uploaded.getTime() >= rule.maxAgeSeconds * 1000)
    return true;
  return rule.deleteFrom !== undefined && now.getTime() >= rule.deleteFrom;
}

/** What the runner needs of an R2 bucket binding (Miniflare's, in Node). */
export interface ListableBucket {
  list(options: { prefix?: string; cursor?: string }): Promise<{
    objects: { key: string; uploaded: Date }[];
    truncated: boolean;
    cursor?: string;
  }>;
  delete(keys: string[]): Promise<void>;
}

/** R2 deletes at most this many keys in one call. */
const DELETE_BATCH = 1000;

/**
 * Deletes every object of `bucket` that one of the rules expires at `now`; answers the keys deleted. The
 * whole listing is read before anything is deleted, so no cursor is ever asked to skip deleted keys.
 */
export async function sweep(bucket: ListableBucket, lifecycle: LocalLifecycle, now: Date): Promise<string[]> {
  const expired = new Set<string>();
  for (const rule of lifecycle.rules) {
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ prefix: rule.prefix, ...(cursor ? { cursor } : {}) });
      for (const o of page.objects) if (expires(rule, o.key, new Date(o.uploaded), now)) expired.add(o.key);
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
  const keys = [...expired];
  for (let i = 0; i < keys.length; i += DELETE_BATCH) await bucket.delete(keys.slice(i, i + DELETE_BATCH));
  return keys;
}

/** The buckets the plan gives expiry rules, each through a Worker that binds it. */
export async function expireR2Objects(
  plan: {
    r2Lifecycles: LocalLifecycle[];
    workers: readonly { name: string; r2Buckets: Record<string, string> }[];
  },
  bucketOf: (binding: string, workerName: string) => Promise<ListableBucket>,
  now: Date,
): Promise<{ bucketName: string; deleted: string[] }[]> {
  const results: { bucketName: string; deleted: string[] }[] = [];
  for (const lifecycle of plan.r2Lifecycles) {
    if (lifecycle.rules.length === 0) continue;
    const found = firstBinding(plan.workers, "r2Buckets", lifecycle.bucketName);
    // A bucket no Worker binds has nothing in it locally.
    if (!found) continue;
    const bucket = await bucketOf(found.binding, found.worker);
    results.push({ bucketName: lifecycle.bucketName, deleted: await sweep(bucket, lifecycle, now) });
  }
  return results;
}
