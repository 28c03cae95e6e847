import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { version as pulumiVersion } from "@pulumi/pulumi/version";
import { cacheRoot } from "./bundle-cache";

/**
 * A dynamic provider's code as Pulumi ships it to the engine (`__provider`), cached on disk. Pulumi's
 * closure serializer loads the TypeScript compiler and opens an inspector session to find what a
 * function captures: about half a second on every evaluation of a program, for a text that only changes
 * when the provider does. The text is a function of the provider's methods as the loader compiled them,
 * of the values they capture, and of the serializer, so that is the key: the serializer's and Node's
 * versions, the source of the module that defines the provider (its constants), every method's compiled
 * text, and `captures` (the captured values that are not in that source: a bundled runtime, a helper's
 * text). A provider must capture nothing else, or a change to it would not reach the key. One record per
 * provider (by its module, name and compiled methods), replaced when the rest of the key changes.
 */

interface Shipped {
  key: string;
  text: string;
  containsSecrets: boolean;
}

const memo = new Map<pulumi.dynamic.ResourceProvider, Promise<Shipped>>();

/** The provider's methods as the loader compiled them (a process under another loader has others). */
function methodsOf(provider: pulumi.dynamic.ResourceProvider): string {
  return Object.entries(provider)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, method]) => `${name}\0${String(method)}`)
    .join("\0");
}

function keyOf(provider: pulumi.dynamic.ResourceProvider, definedIn: string, captures: string[]): string {
  const hash = createHash("sha256").update(JSON.stringify([1, pulumiVersion, process.version]));
  hash.update(readFileSync(definedIn)).update(methodsOf(provider));
  for (const capture of captures) hash.update(`\0${capture}`);
  return hash.digest("hex");
}

/** Where a provider's serialized code comes from: its module, its name there, and what it captures. */
export interface ProviderSource {
  definedIn: string;
  name: string;
  captures: string[];
}

async function ship(provider: pulumi.dynamic.ResourceProvider, source: ProviderSource): Promise<Shipped> {
  const key = keyOf(provider, source.definedIn, source.captures);
  // By loader too, so that processes under different loaders (the CLIs, vitest) do not replace each other's.
  const name = createHash("sha256")
    .update(`${source.definedIn}\0${source.name}\0${methodsOf(provider)}`)
    .digest("hex");
  const file = path.join(cacheRoot(), "providers", `${name}.json`);
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as Shipped;
    if (cached.key === key && typeof cached.text === "string") return cached;
  } catch {
    // not cached yet
  }
  // As pulumi.dynamic.Resource serializes it, so that the text is the one it would ship.
  const { text, containsSecrets } = await pulumi.runtime.serializeFunction(() => provider, {
    allowSecrets: true,
  });
  const shipped = { key, text, containsSecrets };
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(temporary, JSON.stringify(shipped));
    renameSync(temporary, file);
  } catch {
    rmSync(temporary, { force: true });
  }
  return shipped;
}

/**
 * The `__provider` input of a dynamic resource: the provider's serialized code (secret when it captured
 * a secret), from the disk cache when the provider is unchanged.
 */
export function shippedProvider(
  provider: pulumi.dynamic.ResourceProvider,
  source: ProviderSource,
): pulumi.Output<string> {
  let shipped = memo.get(provider);
  if (!shipped) {
    shipped = ship(provider, source);
    memo.set(provider, shipped);
  }
  return pulumi
    .output(shipped)
    .apply((s) => (s.containsSecrets ? pulumi.secret(s.text) : pulumi.output(s.text)));
}
