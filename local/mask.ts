/**
 * The one masker of everything that prints a resource graph or what is derived from it (synth, plan, the
 * pull-request diff). Fail-closed: inside a Pulumi secret every value is masked, whatever its field is
 * called, and only the structure (keys, array lengths, nulls) stays visible.
 */
import { type CapturedResource, isSecretWrapper } from "./graph";

export const MASK = "[secret]";

/** Every value inside `value` masked, keys sorted; keys Pulumi reserves (`__…`) left out. */
function maskAll(value: unknown): unknown {
  if (isSecretWrapper(value)) return maskAll(value.value);
  if (Array.isArray(value)) return value.map(maskAll);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      if (!k.startsWith("__")) out[k] = maskAll((value as Record<string, unknown>)[k]);
    }
    return out;
  }
  return value === null || value === undefined ? value : MASK;
}

/**
 * The value with each Pulumi secret replaced by its masked structure; `visit` may render the values that
 * are not secret (it is called on every non-secret value with its key, and answers `undefined` to leave
 * the value to the walk).
 */
export function maskSecrets(
  value: unknown,
  visit: (value: unknown, key: string | undefined) => unknown = () => undefined,
  key?: string,
): unknown {
  if (isSecretWrapper(value)) return maskAll(value.value);
  const rendered = visit(value, key);
  if (rendered !== undefined) return rendered;
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, visit));
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      if (k.startsWith("__") && k !== "__provider") continue;
      out[k] = maskSecrets((value as Record<string, unknown>)[k], visit, k);
    }
    return out;
  }
  return value;
}

/**
 * The graph with every secret masked in place, still marked secret: what a tool that prints something
 * derived from the graph (the local plan) works from, so that no secret can reach its output.
 */
export function maskGraph(resources: CapturedResource[]): CapturedResource[] {
  const walk = (value: unknown): unknown => {
    if (isSecretWrapper(value)) return { ...value, value: maskAll(value.value) };
    if (Array.isArray(value)) return value.map(walk);
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    }
    return value;
  };
  return resources.map((r) => ({ ...r, inputs: walk(r.inputs) as Record<string, unknown> }));
}
