import { readFileSync } from "node:fs";
import path from "node:path";
import { deployedOutbound } from "./outbound";
import { type UploadBinding, UploadRefused, type VersionModule, type WorkerVersion } from "./types";

/**
 * The Miniflare options (v4 shape, for `convertV4MiniflareOptions`) of one Worker version deployed through
 * the Cloudflare API stand-in. Pure but for reading the version's stored module files.
 */

/** Error codes of the refusals (Cloudflare's 10021 for a script that does not load; the others chosen here). */
export const REFUSED = {
  /** A module that does not parse, throws at the top level, has an unknown type or no main module. */
  module: 10021,
  /** A binding the stand-in cannot honour (another script's Durable Object class, service, queue, …). */
  binding: 10054,
  /** A migration the stand-in cannot apply (`transferred_classes`). */
  migration: 10074,
} as const;

/** The compatibility date of a version that names none (Cloudflare's oldest would break most Workers). */
export const DEFAULT_COMPATIBILITY_DATE = "2025-01-01";

type ModuleType = "ESModule" | "CommonJS" | "Text" | "Data" | "CompiledWasm";
const MODULE_TYPES: Record<string, ModuleType | null> = {
  esm: "ESModule",
  commonjs: "CommonJS",
  text: "Text",
  data: "Data",
  "compiled-wasm": "CompiledWasm",
  sourcemap: null, // not run: left out
};

export interface WorkerModuleOption {
  type: ModuleType;
  /** The module's name as the Worker imports it (relative: Miniflare names it by this path). */
  path: string;
  contents: string | Uint8Array;
}

/** What `miniflareOptionsFor` answers: one Worker's options plus where its storage lives. */
export interface WorkerMiniflareOptions {
  name: string;
  /** The main module first. */
  modules: WorkerModuleOption[];
  compatibilityDate: string;
  compatibilityFlags: string[];
  bindings: Record<string, unknown>;
  kvNamespaces: Record<string, string>;
  r2Buckets: Record<string, string>;
  d1Databases: Record<string, string>;
  durableObjects: Record<string, { className: string; useSQLite: boolean; unsafeUniqueKey: string }>;
  /** Where the Worker's subrequests go: the internet, nothing of this machine (`outbound.ts`). */
  outboundService: (request: Request) => Promise<Response>;
  /**
   * `<dataDir>/<account>/scripts/<script>`: Miniflare keeps Durable Objects in `do/<unique key>` below it;
   * the host links its `kv`, `r2` and `d1` to the account's `<dataDir>/<account>/{kv,r2,d1}`.
   * Absent without a dataDir (Miniflare's temporary folder, gone on dispose).
   */
  resourcePersistencePath?: string;
}

/** A path segment from an account id or script name: nothing that climbs or splits a path. */
export const pathSegment = (name: string) =>
  encodeURIComponent(name).replace(/^\.+$/, (dots) => "%2E".repeat(dots.length));

/** Where a script's data lives: `<dataDir>/<account>/scripts/<script>` (its Durable Objects in `do/`). */
export const scriptDataDir = (dataDir: string, accountId: string, scriptName: string) =>
  path.join(dataDir, pathSegment(accountId), "scripts", pathSegment(scriptName));

/** Where an account's KV namespaces, R2 buckets and D1 databases live: `<dataDir>/<account>/{kv,r2,d1}`. */
export const accountDataDir = (dataDir: string, accountId: string) =>
  path.join(dataDir, pathSegment(accountId));

/** The storage kinds shared by an account's scripts (folders under the account's data dir). */
export const SHARED_STORAGE = ["kv", "r2", "d1"] as const;

/** Miniflare's default unique key of a Durable Object class, under which its data is kept (`do/<key>`). */
export const defaultStorageKey = (scriptName: string, className: string) => `${scriptName}-${className}`;

function moduleOption(version: WorkerVersion, m: VersionModule): WorkerModuleOption | null {
  const type = MODULE_TYPES[m.type];
  if (type === undefined) {
    throw new UploadRefused(
      `module ${m.name} has type "${m.type}", which the stand-in does not run`,
      REFUSED.module,
    );
  }
  if (type === null) return null;
  if (m.name === "" || path.isAbsolute(m.name) || m.name.split(/[\\/]/).includes("..")) {
    throw new UploadRefused(
      `module name "${m.name}" of ${version.scriptName} is not a relative path`,
      REFUSED.module,
    );
  }
  const raw = readFileSync(m.path);
  const binary = type === "Data" || type === "CompiledWasm";
  return { type, path: m.name, contents: binary ? new Uint8Array(raw) : raw.toString("utf8") };
}

function refuseBinding(b: UploadBinding, why: string): never {
  throw new UploadRefused(`binding ${b.name} of type ${b.type}: ${why}`, REFUSED.binding);
}

function field(b: UploadBinding, key: string, emptyAllowed = false): string {
  const v = (b as Record<string, unknown>)[key];
  if (typeof v !== "string" || (v === "" && !emptyAllowed)) {
    refuseBinding(b, `"${key}" must be a ${emptyAllowed ? "" : "non-empty "}string`);
  }
  return v;
}

/**
 * The Miniflare options of one version: its modules (main first, source maps left out), compatibility
 * date (`DEFAULT_COMPATIBILITY_DATE` when absent) and flags, and its bindings. `storageKeys` maps a
 * Durable Object class to the key its data is kept under when a migration renamed it (the host's record);
 * others use `<script>-<Class>`. Throws `UploadRefused` on what it cannot honour.
 */
export function miniflareOptionsFor(
  version: WorkerVersion,
  dataDir: string | undefined,
  storageKeys: Readonly<Record<string, string>> = {},
): WorkerMiniflareOptions {
  const main = version.modules.find((m) => m.name === version.mainModule);
  if (!main) {
    throw new UploadRefused(
      `main module ${version.mainModule} is not among the uploaded modules`,
      REFUSED.module,
    );
  }
  if (main.type !== "esm" && main.type !== "commonjs") {
    throw new UploadRefused(`main module ${main.name} has type ${main.type}, not a script`, REFUSED.module);
  }
  const modules = [main, ...version.modules.filter((m) => m !== main)]
    .map((m) => moduleOption(version, m))
    .filter((m): m is WorkerModuleOption => m !== null);

  const options: WorkerMiniflareOptions = {
    name: version.scriptName,
    modules,
    compatibilityDate: version.compatibilityDate || DEFAULT_COMPATIBILITY_DATE,
    compatibilityFlags: [...version.compatibilityFlags],
    bindings: {},
    kvNamespaces: {},
    r2Buckets: {},
    d1Databases: {},
    durableObjects: {},
    outboundService: deployedOutbound(),
  };
  const classes = new Map(version.durableObjectClasses.map((c) => [c.className, c.sqlite]));
  for (const b of version.bindings) {
    switch (b.type) {
      case "plain_text":
      case "secret_text":
        options.bindings[b.name] = field(b, "text", true);
        break;
      case "json": {
        const json = (b as { json?: unknown }).json;
        if (json === undefined) refuseBinding(b, `"json" is missing`);
        options.bindings[b.name] = json;
        break;
      }
      case "kv_namespace":
        options.kvNamespaces[b.name] = field(b, "namespace_id");
        break;
      case "r2_bucket":
        options.r2Buckets[b.name] = field(b, "bucket_name");
        break;
      case "d1":
        options.d1Databases[b.name] = field(b, "id");
        break;
      case "durable_object_namespace": {
        const className = field(b, "class_name");
        const owner = (b as { script_name?: unknown }).script_name;
        if (owner !== undefined && owner !== "" && owner !== version.scriptName) {
          refuseBinding(
            b,
            `class ${className} of another script (${String(owner)}) is not something the stand-in runs`,
          );
        }
        const sqlite = classes.get(className);
        if (sqlite === undefined) {
          refuseBinding(b, `class ${className} was not created by a migration of ${version.scriptName}`);
        }
        options.durableObjects[b.name] = {
          className,
          useSQLite: sqlite,
          unsafeUniqueKey: storageKeys[className] ?? defaultStorageKey(version.scriptName, className),
        };
        break;
      }
      default:
        refuseBinding(b, "not supported by the local Cloudflare API stand-in");
    }
  }
  if (dataDir !== undefined) {
    options.resourcePersistencePath = scriptDataDir(dataDir, version.accountId, version.scriptName);
  }
  return options;
}
