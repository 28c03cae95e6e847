import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import yaml from "js-yaml";
import { ENCRYPTED_SECRET } from "./secret-placeholder";

/** Root of this repository (where Pulumi.yaml is). */
export const REPO_ROOT = path.resolve(__dirname, "..");

/** A stack's config as Pulumi hands it to a program: `project:key` → string, plus the secret keys. */
export interface StackFileConfig {
  config: Record<string, string>;
  secretKeys: string[];
}

export function projectName(root: string = REPO_ROOT): string {
  const doc = yaml.load(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { name?: unknown };
  if (typeof doc?.name !== "string") throw new Error(`${root}/Pulumi.yaml has no project name`);
  return doc.name;
}

/**
 * The entry module of the program of the project at `root`, found as Pulumi's Node.js runtime finds it:
 * `main` of `Pulumi.yaml`, else `main` of `package.json`, else the project folder; a folder means its
 * `index.js`, else its `index.ts`.
 */
export function projectEntry(root: string = REPO_ROOT): string {
  const pulumiYaml = yaml.load(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { main?: unknown };
  const packageFile = path.join(root, "package.json");
  const packageMain = existsSync(packageFile)
    ? (JSON.parse(readFileSync(packageFile, "utf8")) as { main?: unknown }).main
    : undefined;
  const main = [pulumiYaml?.main, packageMain, "."].find((m): m is string => typeof m === "string");
  const target = path.resolve(root, main ?? ".");
  // As Node resolves `require(main)`: the file itself, with `.js` then `.ts` added, then the folder's
  // index (`.js` first: a compiled program runs what `pulumi up` runs).
  const candidates = [
    target,
    `${target}.js`,
    `${target}.ts`,
    path.join(target, "index.js"),
    path.join(target, "index.ts"),
  ];
  for (const candidate of candidates) {
    if (/\.[cm]?[jt]s$/.test(candidate) && existsSync(candidate) && statSync(candidate).isFile())
      return candidate;
  }
  if (typeof main === "string" && main !== ".") {
    const from = typeof pulumiYaml?.main === "string" ? "Pulumi.yaml" : "package.json";
    throw new Error(`the program's entry module ${main} (main in ${path.join(root, from)}) does not exist`);
  }
  throw new Error(`no program entry in ${root}: set main in Pulumi.yaml or package.json, or add index.ts`);
}

/** The folder of the nearest `Pulumi.yaml` at or above `dir`. */
export function projectRoot(dir: string): string {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, "Pulumi.yaml"))) return d;
    if (d === path.dirname(d)) throw new Error(`no Pulumi.yaml at or above ${dir}`);
  }
}

/** `Pulumi.<stack>.yaml` in the project's `stackConfigDir` (or beside `Pulumi.yaml`). */
export function stackFilePath(stack: string, root: string = REPO_ROOT): string {
  const doc = yaml.load(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { stackConfigDir?: unknown };
  const dir = typeof doc?.stackConfigDir === "string" ? doc.stackConfigDir : ".";
  return path.join(root, dir, `Pulumi.${stack}.yaml`);
}

function isSecure(value: unknown): value is { secure: string } {
  return typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value;
}

/** Replaces `secure:` ciphertext (nested or not) by a placeholder; reports whether any was found. */
function unsecure(value: unknown): { value: unknown; secret: boolean } {
  if (isSecure(value)) return { value: ENCRYPTED_SECRET, secret: true };
  if (Array.isArray(value)) {
    const items = value.map(unsecure);
    return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
  }
  if (typeof value === "object" && value !== null) {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = unsecure(v);
      out[k] = r.value;
      secret ||= r.secret;
    }
    return { value: out, secret };
  }
  return { value, secret: false };
}

/**
 * Reads `Pulumi.<stack>.yaml` the way the Pulumi CLI hands it to a program. Encrypted values cannot be
 * decrypted without the stack's secrets provider, so they become a masked placeholder, still secret.
 */
export function readStackFile(file: string, project: string): StackFileConfig {
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const root = (doc ?? {}) as { config?: Record<string, unknown>; secrets?: unknown };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [rawKey, rawValue] of Object.entries(root.config ?? {})) {
    const key = rawKey.includes(":") ? rawKey : `${project}:${rawKey}`;
    const { value, secret } = unsecure(rawValue);
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
    if (secret) secretKeys.push(key);
  }
  return { config, secretKeys };
}
