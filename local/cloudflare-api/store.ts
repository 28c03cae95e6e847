import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { UploadMigrations, VersionModule, WorkerVersion } from "./types";

/** An error the HTTP API answers with Cloudflare's envelope: HTTP status, Cloudflare error code, message. */
export class CloudflareApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CloudflareApiError";
  }
}

export interface KvNamespace {
  /** 32 lowercase hex digits, as Cloudflare's. */
  id: string;
  title: string;
}

export interface Deployment {
  /** UUID. */
  id: string;
  /** ISO time. */
  created_on: string;
  source: string;
  /** Who deployed: nobody the stand-in knows of. */
  author_email: string;
  strategy: "percentage";
  versions: { version_id: string; percentage: number }[];
  annotations: Record<string, string>;
}

/** What the script-settings routes set; kept as given (the stand-in runs none of them). */
export interface ScriptSettings {
  logpush: boolean;
  observability: unknown;
  tail_consumers: unknown[] | null;
  streaming_tail_consumers?: unknown[] | null;
  tags: string[];
  placement?: unknown;
  limits?: unknown;
}

export interface ScriptRecord {
  name: string;
  /** The script's own id (Cloudflare's "tag"), 32 lowercase hex digits. */
  tag: string;
  createdOn: string;
  modifiedOn: string;
  /** Etag of the deployed version's content. */
  etag: string;
  settings: ScriptSettings;
  subdomain: { enabled: boolean; previews_enabled: boolean };
  /** Newest first. */
  deployments: Deployment[];
}

/** What an upload carried beside the version itself (`upload.json` next to `version.json`). */
export interface VersionUpload {
  /** SHA-256 over the version's metadata and modules, hex. */
  etag: string;
  /** The upload's `metadata.migrations`, applied when the version is deployed. */
  migrations: UploadMigrations | null;
  startupTimeMs: number;
}

export interface StoredVersion {
  version: WorkerVersion;
  upload: VersionUpload;
}

/** A module's content as uploaded, before it is written. */
export interface ModuleContent {
  name: string;
  type: VersionModule["type"];
  content: Uint8Array;
}

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SCRIPT_NAME = /^[a-z0-9_-]{1,63}$/;
const VERSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Refuses an account id the stand-in does not route (1 to 64 of A-Z, a-z, 0-9, `_`, `-`). */
export function checkAccountId(accountId: string): void {
  if (!ACCOUNT_ID.test(accountId)) {
    throw new CloudflareApiError(
      404,
      7003,
      `account id ${JSON.stringify(accountId)} is not valid: use 1 to 64 characters of A-Z, a-z, 0-9, "_" and "-"`,
    );
  }
}

/** Refuses a script name Cloudflare would refuse. */
export function checkScriptName(name: string): void {
  if (!SCRIPT_NAME.test(name)) {
    throw new CloudflareApiError(
      400,
      10016,
      `Worker name ${JSON.stringify(name)} is not valid: use lowercase letters (a-z), digits (0-9), "-" and "_", at most 63 characters`,
    );
  }
}

/** Refuses a module name that could leave its version's folder: empty, absolute, or with `..` or `.` parts. */
export function checkModuleName(name: string): void {
  const bad =
    name === "" ||
    name.length > 512 ||
    name.startsWith("/") ||
    name.includes("\\") ||
    name.includes("\0") ||
    name.split("/").some((part) => part === "" || part === "." || part === "..");
  if (bad) {
    throw new CloudflareApiError(
      400,
      10021,
      `module name ${JSON.stringify(name)} is not valid: use a relative path such as "index.js" or "lib/util.js", without empty, "." or ".." parts`,
    );
  }
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/**
 * The stand-in's state on disk under `root` (`accounts/<account>/…`): KV namespaces, scripts with their
 * settings and deployments (`script.json`), and each version in a folder of its own. Every JSON file is
 * replaced atomically (temporary file, then rename); a version exists once its `version.json` is written,
 * so a version whose upload was refused, or cut short by a crash, leaves nothing behind.
 */
export class CloudflareStore {
  readonly accountsDir: string;

  constructor(readonly root: string) {
    this.accountsDir = path.join(root, "accounts");
    mkdirSync(this.accountsDir, { recursive: true });
    this.removeUncommitted();
  }

  private accountDir(accountId: string): string {
    checkAccountId(accountId);
    return path.join(this.accountsDir, accountId);
  }

  private scriptDir(accountId: string, name: string): string {
    checkScriptName(name);
    return path.join(this.accountDir(accountId), "scripts", name);
  }

  /** The folder of one version (`versions/<id>/`). */
  versionDir(accountId: string, name: string, versionId: string): string {
    if (!VERSION_ID.test(versionId)) {
      throw new CloudflareApiError(404, 10007, `version ${JSON.stringify(versionId)} is not a version id`);
    }
    return path.join(this.scriptDir(accountId, name), "versions", versionId);
  }

  private removeUncommitted(): void {
    for (const account of listDirs(this.accountsDir)) {
      const scriptsDir = path.join(this.accountsDir, account, "scripts");
      for (const script of listDirs(scriptsDir)) {
        const versionsDir = path.join(scriptsDir, script, "versions");
        for (const id of listDirs(versionsDir)) {
          if (!existsSync(path.join(versionsDir, id, "version.json"))) {
            rmSync(path.join(versionsDir, id), { recursive: true, force: true });
          }
        }
      }
    }
  }

  accountIds(): string[] {
    return listDirs(this.accountsDir).filter((a) => ACCOUNT_ID.test(a));
  }

  kvNamespaces(accountId: string): KvNamespace[] {
    return readJson<KvNamespace[]>(path.join(this.accountDir(accountId), "kv-namespaces.json")) ?? [];
  }

  /** Creates a namespace; refuses a title the account already has (Cloudflare's code 10014). */
  createKvNamespace(accountId: string, title: string): KvNamespace {
    const all = this.kvNamespaces(accountId);
    if (all.some((ns) => ns.title === title)) {
      throw new CloudflareApiError(
        400,
        10014,
        `A namespace with this account ID and title already exists (title ${JSON.stringify(title)})`,
      );
    }
    const created = { id: randomBytes(16).toString("hex"), title };
    writeAtomic(
      path.join(this.accountDir(accountId), "kv-namespaces.json"),
      JSON.stringify([...all, created], null, 2),
    );
    return created;
  }

  scriptNames(accountId: string): string[] {
    const scriptsDir = path.join(this.accountDir(accountId), "scripts");
    return listDirs(scriptsDir)
      .filter((name) => SCRIPT_NAME.test(name) && existsSync(path.join(scriptsDir, name, "script.json")))
      .sort();
  }

  script(accountId: string, name: string): ScriptRecord | undefined {
    return readJson<ScriptRecord>(path.join(this.scriptDir(accountId, name), "script.json"));
  }

  saveScript(accountId: string, record: ScriptRecord): void {
    writeAtomic(
      path.join(this.scriptDir(accountId, record.name), "script.json"),
      JSON.stringify(record, null, 2),
    );
  }

  /** A new script's record: no deployment yet, workers.dev off and preview URLs on. */
  newScript(name: string, now: string): ScriptRecord {
    return {
      name,
      tag: randomBytes(16).toString("hex"),
      createdOn: now,
      modifiedOn: now,
      etag: "",
      settings: { logpush: false, observability: { enabled: false }, tail_consumers: null, tags: [] },
      subdomain: { enabled: false, previews_enabled: true },
      deployments: [],
    };
  }

  /** The script's versions, newest (highest number) first. */
  versions(accountId: string, name: string): StoredVersion[] {
    const versionsDir = path.join(this.scriptDir(accountId, name), "versions");
    const out: StoredVersion[] = [];
    for (const id of listDirs(versionsDir)) {
      const stored = this.readVersion(path.join(versionsDir, id));
      if (stored) out.push(stored);
    }
    return out.sort((a, b) => b.version.number - a.version.number);
  }

  /** The version, or undefined when there is none by that id (or the id is not a version id). */
  version(accountId: string, name: string, versionId: string): StoredVersion | undefined {
    if (!VERSION_ID.test(versionId)) return undefined;
    return this.readVersion(this.versionDir(accountId, name, versionId));
  }

  private readVersion(dir: string): StoredVersion | undefined {
    const version = readJson<WorkerVersion>(path.join(dir, "version.json"));
    if (!version) return undefined;
    const upload = readJson<VersionUpload>(path.join(dir, "upload.json"));
    if (!upload) return undefined;
    return { version, upload };
  }

  /**
   * Writes a version's modules under `versions/<id>/modules/` and answers them as the version lists them;
   * the version does not exist until `commitVersion` (`discardVersion` removes what was written).
   */
  writeModules(
    accountId: string,
    name: string,
    versionId: string,
    modules: ModuleContent[],
  ): VersionModule[] {
    const modulesDir = path.join(this.versionDir(accountId, name, versionId), "modules");
    const written: VersionModule[] = [];
    for (const module of modules) {
      checkModuleName(module.name);
      const file = path.join(modulesDir, ...module.name.split("/"));
      try {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, module.content, { flag: "wx" });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EEXIST" || code === "ENOTDIR" || code === "EISDIR") {
          throw new CloudflareApiError(
            400,
            10021,
            `module name ${JSON.stringify(module.name)} clashes with another module of the upload (a module cannot be both a file and a folder, nor come twice)`,
          );
        }
        throw error;
      }
      written.push({ name: module.name, type: module.type, path: file });
    }
    return written;
  }

  /** Makes the version exist: `upload.json`, then `version.json` last. */
  commitVersion(version: WorkerVersion, upload: VersionUpload): void {
    const dir = this.versionDir(version.accountId, version.scriptName, version.id);
    writeAtomic(path.join(dir, "upload.json"), JSON.stringify(upload, null, 2));
    writeAtomic(path.join(dir, "version.json"), JSON.stringify(version, null, 2));
  }

  discardVersion(accountId: string, name: string, versionId: string): void {
    rmSync(this.versionDir(accountId, name, versionId), { recursive: true, force: true });
  }

  removeScript(accountId: string, name: string): void {
    const dir = this.scriptDir(accountId, name);
    // The record goes first, so that a script half removed by a crash is already gone.
    rmSync(path.join(dir, "script.json"), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
