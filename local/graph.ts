import { createHash } from "node:crypto";

/**
 * The captured resource graph and what can be read from it without loading the Pulumi SDK (the local
 * target's warm start reads a cached graph through this module only).
 */

/** One resource as the program registered it. `inputs` keep Pulumi's secret wrappers. */
export interface CapturedResource {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  custom: boolean;
  inputs: Record<string, unknown>;
  protect: boolean;
  retainOnDelete: boolean;
  dependsOn: string[];
  /** Provider reference (`<urn>::<id>`) of a resource that names one explicitly. */
  provider: string | null;
}

/** Pulumi's marker of a secret value inside deserialized inputs. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretWrapper(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE
  );
}

/**
 * The mocks derive ids from a flat URN, `urn:pulumi:<stack>::<project>::<type>::<name>` (the mock API
 * does not see the parent chain): stable, so the same program always yields the same graph.
 */
export function stableId(flatUrn: string, length = 32): string {
  return createHash("sha256").update(flatUrn).digest("hex").slice(0, length);
}

export function uuidOfFlatUrn(flatUrn: string): string {
  const h = stableId(flatUrn);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function flatUrnOf(resource: Pick<CapturedResource, "urn" | "type" | "name">): string {
  const [prefix, project] = resource.urn.split("::");
  return `${prefix}::${project}::${resource.type}::${resource.name}`;
}

/** The id the mocks gave a captured resource (what its `id` output, and bindings to it, carry). */
export function mockIdOf(resource: Pick<CapturedResource, "urn" | "type" | "name">, length = 32): string {
  return stableId(flatUrnOf(resource), length);
}

/** The `uuid` output the mocks gave a captured D1 database (the id a `d1` binding carries). */
export function mockD1Uuid(resource: Pick<CapturedResource, "urn" | "type" | "name">): string {
  return uuidOfFlatUrn(flatUrnOf(resource));
}

/** The value with every Pulumi secret wrapper replaced by what it wraps, at any depth. */
export function reveal(value: unknown): unknown {
  if (isSecretWrapper(value)) return reveal(value.value);
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}
