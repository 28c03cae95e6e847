import { createHash } from "node:crypto";

/**
 * The local stand-in for the part of the Cloudflare API that `wrangler deploy` and `wrangler versions
 * upload` call: the types shared by its HTTP API (`api.ts`, `store.ts`) and the runtime that runs the
 * Workers deployed through it (`host.ts`).
 */

/** A binding as the upload's `metadata.bindings` carries it, after `inherit` ones were resolved. */
export type UploadBinding =
  | { type: "plain_text"; name: string; text: string }
  | { type: "secret_text"; name: string; text: string }
  | { type: "json"; name: string; json: unknown }
  | { type: "kv_namespace"; name: string; namespace_id: string }
  | { type: "r2_bucket"; name: string; bucket_name: string; jurisdiction?: string }
  | { type: "d1"; name: string; id: string }
  | {
      type: "durable_object_namespace";
      name: string;
      class_name: string;
      /** Another script's class: not something the stand-in can honour (refused). */
      script_name?: string;
      environment?: string;
    }
  | { type: string; name: string; [key: string]: unknown };

/** Durable Object migration steps of an upload (`metadata.migrations`), single or stepped. */
export interface MigrationStep {
  new_classes?: string[];
  new_sqlite_classes?: string[];
  renamed_classes?: { from: string; to: string }[];
  deleted_classes?: string[];
  transferred_classes?: { from: string; from_script: string; to: string }[];
}
export interface UploadMigrations extends MigrationStep {
  old_tag?: string;
  new_tag?: string;
  steps?: MigrationStep[];
}

/** One module of a version, as uploaded (a part of the multipart body). */
export interface VersionModule {
  /** The part's name: the module's path as the Worker imports it (`index.js`, `lib/util.js`). */
  name: string;
  /** From the part's content type. */
  type: "esm" | "commonjs" | "text" | "data" | "compiled-wasm" | "sourcemap";
  /** Absolute path of the stored file. */
  path: string;
}

/** A stored version of a Worker: everything the runtime needs to run it. */
export interface WorkerVersion {
  /** UUID, as Cloudflare's. */
  id: string;
  accountId: string;
  scriptName: string;
  /** 1, 2, … per script. */
  number: number;
  /** ISO time. */
  createdOn: string;
  mainModule: string;
  modules: VersionModule[];
  compatibilityDate: string | undefined;
  compatibilityFlags: string[];
  /** Resolved: no `inherit` left. */
  bindings: UploadBinding[];
  /** Durable Object classes the script's migrations declared so far (live after this version). */
  durableObjectClasses: { className: string; sqlite: boolean }[];
  /** The migration tag after this version (`new_tag` of its migrations, or the previous one). */
  migrationTag: string | undefined;
  /** `metadata.annotations` (`workers/message`, `workers/tag`, `workers/alias`). */
  annotations: Record<string, string>;
  /** Whether the version answers on a preview URL of its own (not for Workers with Durable Objects). */
  hasPreview: boolean;
}

/**
 * What runs deployed Workers. The HTTP API stores each upload, then asks the host; a rejection's message
 * becomes the API's error (Cloudflare's envelope) and nothing changes.
 */
export interface WorkerHost {
  /**
   * Checks that the version can run here (its bindings are ones the stand-in honours, its modules load)
   * without serving it; rejects with an `UploadRefused` otherwise.
   */
  check(version: WorkerVersion): Promise<void>;
  /**
   * Makes the version its script's production version: starts it, then moves traffic over with no
   * request failing; the previous version keeps serving if the new one does not start (rejects then).
   */
  deploy(version: WorkerVersion): Promise<void>;
  /**
   * Applies the script's Durable Object migrations to its stored data before `deploy` (renames move a
   * class's data, deletions remove it). Called with the steps that are new for this upload.
   */
  migrate(accountId: string, scriptName: string, steps: MigrationStep[]): Promise<void>;
  /**
   * Serves a version on its preview host name only (`<first 8 of its id>-<script>.<subdomain>.workers.dev`,
   * and `<alias>-<script>…` for a `workers/alias` annotation); production is unchanged.
   */
  preview(version: WorkerVersion): Promise<void>;
  /**
   * Answers a request that came to the local target's entry port for a `*.workers.dev` host name: the
   * production version for `<script>.<subdomain>.workers.dev`, a preview for the other forms; 404 with
   * Cloudflare's envelope for a host name nothing is deployed on.
   */
  dispatch(request: Request): Promise<Response>;
  /** Stops the script and removes its data (`DELETE /workers/scripts/:name`). */
  remove(accountId: string, scriptName: string): Promise<void>;
  /** The URL of the script's own port (`http://127.0.0.1:<port>`), once it was deployed. */
  urlOf(accountId: string, scriptName: string): string | undefined;
  close(): Promise<void>;
}

/** A refusal with Cloudflare's error code (10021: the script does not load; 10054-ish: bad binding). */
export class UploadRefused extends Error {
  constructor(
    message: string,
    readonly code = 10021,
  ) {
    super(message);
    this.name = "UploadRefused";
  }
}

/**
 * The `workers.dev` subdomain of an account on the stand-in, one per account: the account id itself when
 * it is already a DNS label of lowercase letters, digits and single dashes; otherwise (capitals, `_`, a
 * double dash, too long) a readable prefix of it, `--` and 12 hex digits of its SHA-256, so that `Acme`
 * and `acme` never share a host name. Pure.
 */
export function workersDevSubdomain(accountId: string): string {
  if (/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(accountId) && !accountId.includes("--")) return accountId;
  const prefix = accountId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  const hash = createHash("sha256").update(accountId).digest("hex").slice(0, 12);
  return `${prefix || "account"}--${hash}`;
}
