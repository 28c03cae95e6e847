/**
 * Request schemas of the Client Worker: every body, path parameter and query it reads. Objects are
 * strict, so a misspelt field is an error rather than silently ignored.
 */
// A namespace import lets the bundler drop what is not used (zod's locales alone are ~300 KB).
import * as z from "zod";
import { statusApiUrlProblem } from "../lib/commit-status";
import { BUILD_STATUSES } from "../shared/protocol";
import { MAX_PER_PAGE } from "./pagination";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const WORKER_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED_ENV_VARS = /^(?:CI|WORKERS_CI|WORKERS_CI_.*)$/;

/** Most build variables per trigger, and largest value, as Workers Builds allows. */
export const MAX_ENV_VARS = 64;
export const MAX_ENV_VALUE_BYTES = 5 * 1024;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export const workerNameSchema = z
  .string()
  .regex(
    WORKER_NAME,
    "must be 1 to 63 lowercase letters, digits and dashes, not starting or ending with a dash",
  )
  .refine((name) => !UUID.test(name), "must not have the form of a UUID (Worker ids have that form)");

/** A git branch name, by the rules of `git check-ref-format --branch`. */
export function isValidBranchName(name: string): boolean {
  if (name.length === 0 || name.length > 255 || name === "@") return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  if (name.includes("..") || name.includes("@{") || name.includes("//")) return false;
  if (name.startsWith("-") || name.startsWith("/") || name.endsWith("/") || name.endsWith(".")) return false;
  return name.split("/").every((part) => !part.startsWith(".") && !part.endsWith(".lock"));
}

export const branchSchema = z.string().refine(isValidBranchName, "must be a valid git branch name");

const commitHashSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{7,64}$/, "must be 7 to 64 hexadecimal digits")
  .transform((hash) => hash.toLowerCase());

const commandSchema = z.string().min(1).max(4096);

const rootDirectorySchema = z
  .string()
  .max(1024)
  .refine((dir) => !dir.startsWith("/") && !dir.includes("\\") && !dir.includes("\0"), {
    message: "must be a path relative to the repository root, with / as separator",
  })
  .refine((dir) => !dir.split("/").includes(".."), "must not leave the repository (no .. segments)")
  .transform((dir) =>
    dir
      .replace(/^(?:\.\/)+/, "")
      .replace(/\/+$/, "")
      .replace(/^\.$/, ""),
  );

const pathPatternsSchema = z
  .array(z.string().trim().min(1, "must not be empty; use * to match every file").max(1024))
  .max(100);

function byteLength(value: string): number {
  return new TextEncoder().encode(value).byteLength;
}

const envVarNameSchema = z
  .string()
  .max(256)
  .regex(ENV_VAR_NAME, "must be letters, digits and underscores, not starting with a digit")
  .refine(
    (name) => !RESERVED_ENV_VARS.test(name),
    "is set by the platform for every build (CI, WORKERS_CI*)",
  );

const envVarValueSchema = z
  .string()
  .refine(
    (value) => byteLength(value) <= MAX_ENV_VALUE_BYTES,
    `must be at most ${MAX_ENV_VALUE_BYTES} bytes`,
  );

const envVarTypeSchema = z.enum(["text", "secret"]);

/** On create every variable carries its value. */
const envVarCreateSchema = z.strictObject({
  name: envVarNameSchema,
  type: envVarTypeSchema.default("text"),
  value: envVarValueSchema,
});

/** On update a secret may leave out its value (or send null) to keep the one stored. */
const envVarUpdateSchema = z
  .strictObject({
    name: envVarNameSchema,
    type: envVarTypeSchema.default("text"),
    value: envVarValueSchema.nullable().optional(),
  })
  .superRefine((v, ctx) => {
    if (v.type === "text" && (v.value === undefined || v.value === null)) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "is required for a text variable" });
    }
  });

function envVarsSchema<T extends z.ZodType<{ name: string }>>(item: T) {
  return z
    .array(item)
    .max(MAX_ENV_VARS, `at most ${MAX_ENV_VARS} variables per trigger`)
    .superRefine((vars, ctx) => {
      const seen = new Set<string>();
      vars.forEach((v, i) => {
        if (seen.has(v.name))
          ctx.addIssue({ code: "custom", path: [i, "name"], message: `${v.name} is given twice` });
        seen.add(v.name);
      });
    });
}

export interface RepoUrlOptions {
  /** Accept `file://` URLs (the local stack's runner clones from disk). */
  allowFileRepos: boolean;
}

function repoUrlSchema({ allowFileRepos }: RepoUrlOptions) {
  return z
    .string()
    .max(2048)
    .superRefine((text, ctx) => {
      const fail = (message: string) => ctx.addIssue({ code: "custom", message });
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return fail(allowFileRepos ? "must be an https:// or file:// URL" : "must be an https:// URL");
      }
      if (url.protocol === "file:" && allowFileRepos) {
        if (url.pathname === "/" || url.host !== "")
          fail("must name a local repository: file:///path/to/repo");
        return;
      }
      if (url.protocol !== "https:") {
        return fail(allowFileRepos ? "must be an https:// or file:// URL" : "must be an https:// URL");
      }
      if (url.username !== "" || url.password !== "") fail("must not carry credentials");
      if (url.search !== "" || url.hash !== "") fail("must not have a query or a fragment");
      if (url.pathname.replace(/\/+$/, "") === "") fail("must name a repository (https://host/owner/repo)");
    });
}

const providerSchema = z.enum(["github", "gitlab"]);

/** The base URL of the provider's API for commit statuses, without a trailing slash. */
function statusApiUrlSchema({ allowFileRepos }: RepoUrlOptions) {
  return z
    .string()
    .max(2048)
    .superRefine((text, ctx) => {
      const problem = statusApiUrlProblem(text, allowFileRepos);
      if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
    })
    .transform((text) => text.replace(/\/+$/, ""));
}

/** A provider token goes into a request header: printable ASCII only, so it cannot add a header of its own. */
const statusTokenSchema = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[\x21-\x7e]+$/, "must be the token only: printable ASCII without spaces");

function triggerFields(options: RepoUrlOptions) {
  return {
    repo_url: repoUrlSchema(options),
    /** @default "gitlab" when the URL's host names GitLab, else "github" */
    provider: providerSchema.optional(),
    production_branch: branchSchema,
    build_non_production_branches: z.boolean().optional(),
    build_command: commandSchema.nullable().optional(),
    deploy_command: commandSchema.optional(),
    non_production_deploy_command: commandSchema.optional(),
    root_directory: rootDirectorySchema.optional(),
    path_includes: pathPatternsSchema.optional(),
    path_excludes: pathPatternsSchema.optional(),
    build_caching_enabled: z.boolean().optional(),
    /**
     * The repository connection's API base URL for commit statuses (GitHub Enterprise, self-managed
     * GitLab); null goes back to the provider's public API. @default DEFAULT_STATUS_API_URL[provider]
     */
    status_api_url: statusApiUrlSchema(options).nullable().optional(),
    /** The repository connection's token for commit statuses; write-only, null removes it. */
    status_token: statusTokenSchema.nullable().optional(),
  };
}

export function createTriggerSchema(options: RepoUrlOptions) {
  return z.strictObject({
    ...triggerFields(options),
    env_vars: envVarsSchema(envVarCreateSchema).optional(),
  });
}
export type CreateTriggerBody = z.output<ReturnType<typeof createTriggerSchema>>;

export function updateTriggerSchema(options: RepoUrlOptions) {
  const fields = triggerFields(options);
  return z.strictObject({
    ...fields,
    repo_url: fields.repo_url.optional(),
    production_branch: fields.production_branch.optional(),
    env_vars: envVarsSchema(envVarUpdateSchema).optional(),
  });
}
export type UpdateTriggerBody = z.output<ReturnType<typeof updateTriggerSchema>>;

export const createWorkerSchema = z.strictObject({ name: workerNameSchema });

export const createBuildSchema = z
  .strictObject({ branch: branchSchema.optional(), commit_hash: commitHashSchema.optional() })
  .refine((b) => b.branch === undefined || b.commit_hash === undefined, {
    message: "give branch or commit_hash, not both",
  });

export const createDeployHookSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  branch: branchSchema.optional(),
});

/** What an API token may do: `read` only reads (GET); `write` also changes. */
export const API_TOKEN_SCOPES = ["read", "write"] as const;
export type ApiTokenScope = (typeof API_TOKEN_SCOPES)[number];

export const createApiTokenSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scope: z.enum(API_TOKEN_SCOPES),
});

export const workerRefSchema = z.strictObject({
  worker: z.string().refine((ref) => UUID.test(ref) || WORKER_NAME.test(ref), "must be a Worker id or name"),
});
const uuidSchema = z
  .string()
  .regex(UUID, "must be a UUID")
  .transform((id) => id.toLowerCase());
export const triggerParamSchema = z.strictObject({ trigger: uuidSchema });
export const buildParamSchema = z.strictObject({ uuid: uuidSchema });
export const deployHookParamSchema = z.strictObject({ id: uuidSchema });
export const apiTokenParamSchema = z.strictObject({ id: uuidSchema });

const perPageSchema = z.coerce.number().int().min(1).max(MAX_PER_PAGE).optional();

export const listQuerySchema = z.strictObject({ per_page: perPageSchema, cursor: z.string().optional() });

export const listBuildsQuerySchema = z.strictObject({
  per_page: perPageSchema,
  cursor: z.string().optional(),
  status: z.enum(BUILD_STATUSES).optional(),
  /** Only the builds of this branch. */
  branch: branchSchema.optional(),
});

/** A log cursor as `readLogs` returns it: the number of the last line read. */
export const logCursorSchema = z.string().regex(/^\d{1,15}$/, "not a log cursor this API returned");

export const logsQuerySchema = z.strictObject({
  cursor: logCursorSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const logStreamQuerySchema = z.strictObject({ cursor: logCursorSchema.optional() });

export const emptyQuerySchema = z.strictObject({});
