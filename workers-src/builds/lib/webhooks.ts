/**
 * Push webhooks from GitHub and GitLab: authenticity checks, and one normalised shape for both, the
 * facts a trigger is matched on.
 */
// A namespace import lets the bundler drop what is not used (zod's locales alone are ~300 KB).
import * as z from "zod";
import { constantTimeEqual } from "./digest";

/** A webhook body that does not have the shape its provider documents. */
export class WebhookPayloadError extends Error {
  override name = "WebhookPayloadError";
}

export interface NormalizedPush {
  provider: "github" | "gitlab";
  /** Every URL the provider gives for the repository, to match against a trigger's stored URL. */
  repoUrls: string[];
  branch: string;
  commitHash: string;
  headCommitMessage: string;
  /** Added, modified and removed paths of every commit in the payload, each once, first seen first. */
  changedFiles: string[];
  commitCount: number;
}

export type ParsedPush = { kind: "push"; push: NormalizedPush } | { kind: "ignored"; reason: string };

const encoder = new TextEncoder();

/**
 * Checks GitHub's `X-Hub-Signature-256` header (`sha256=<hex HMAC-SHA256 of the raw body>`). Any header
 * that is missing or malformed is a failed check, not an error.
 */
export async function verifyGitHubSignature(
  secret: string,
  rawBody: ArrayBuffer | Uint8Array,
  header: string | null,
): Promise<boolean> {
  requireSecret(secret);
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header ?? "");
  if (!match) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  // verify compares in constant time; comparing hex strings ourselves would leak where they differ.
  return crypto.subtle.verify("HMAC", key, hexToBytes(match[1]!), rawBody);
}

/** Checks GitLab's `X-Gitlab-Token` header, which carries the webhook secret as is. */
export function verifyGitLabToken(secret: string, header: string | null): boolean {
  requireSecret(secret);
  if (header === null) return false;
  return constantTimeEqual(encoder.encode(secret), encoder.encode(header));
}

function requireSecret(secret: string): void {
  if (secret === "")
    throw new Error("webhook secret is empty; set the trigger's webhook secret before verifying");
}

function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/**
 * The payload of a delivery's raw body. GitHub sends JSON as is (`application/json`) or, the content
 * type a new webhook defaults to, as the `payload` field of a form (`application/x-www-form-urlencoded`);
 * either way it signs the raw body. GitLab always sends JSON.
 */
export function deliveryPayload(contentType: string | null, raw: Uint8Array): unknown {
  const mediaType = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase();
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw new WebhookPayloadError("body: not UTF-8");
  }
  // A JSON body sent by hand (`curl -d`) is labelled as a form too: it starts with `{`, a form never does.
  if (mediaType === "application/x-www-form-urlencoded" && !text.trimStart().startsWith("{")) {
    const field = new URLSearchParams(text).get("payload");
    if (field === null)
      throw new WebhookPayloadError(
        "body: a form-encoded delivery carries its JSON in a payload field; there is none",
      );
    text = field;
  }
  if (text.trim() === "") throw new WebhookPayloadError("body: empty");
  try {
    return JSON.parse(text);
  } catch (err) {
    const type = mediaType === "" ? "" : ` (Content-Type ${mediaType})`;
    throw new WebhookPayloadError(
      `body: not valid JSON${type}: ${err instanceof SyntaxError ? err.message : "parse error"}`,
    );
  }
}

/** Longest delivery id kept; GitHub's and GitLab's are 36-character UUIDs. */
export const MAX_DELIVERY_ID_CHARS = 200;

/**
 * The id that stays the same when a provider sends a delivery again: GitHub's `X-GitHub-Delivery`
 * (a redelivery keeps it); GitLab's `Idempotency-Key` (GitLab 17.4 and later, kept across retries and
 * resends) or else its `X-Gitlab-Event-UUID`. Null when the delivery has none.
 */
export function deliveryIdOf(provider: "github" | "gitlab", headers: Headers): string | null {
  const names = provider === "github" ? ["X-GitHub-Delivery"] : ["Idempotency-Key", "X-Gitlab-Event-UUID"];
  for (const name of names) {
    const value = headers.get(name)?.trim();
    if (value === undefined || value === "") continue;
    if (value.length > MAX_DELIVERY_ID_CHARS)
      throw new WebhookPayloadError(`${name}: longer than ${MAX_DELIVERY_ID_CHARS} characters`);
    return value;
  }
  return null;
}

const BRANCH_REF = /^refs\/heads\/(.+)$/;
const TAG_REF = /^refs\/tags\/(.+)$/;
const ZERO_SHA = /^0+$/;

const commitFilesSchema = z.object({
  added: z.array(z.string()).optional(),
  modified: z.array(z.string()).optional(),
  removed: z.array(z.string()).optional(),
});

const commitSchema = commitFilesSchema.extend({ id: z.string(), message: z.string() });

const gitHubPushSchema = z.object({
  ref: z.string(),
  after: z.string(),
  deleted: z.boolean().optional(),
  repository: z.object({
    clone_url: z.string().optional(),
    html_url: z.string().optional(),
    ssh_url: z.string().optional(),
    git_url: z.string().optional(),
  }),
  commits: z.array(commitSchema),
  head_commit: z.object({ id: z.string(), message: z.string() }).nullable().optional(),
});

/** Reads a GitHub push delivery (`X-GitHub-Event` and the parsed JSON body). */
export function parseGitHubPush(event: string | null, payload: unknown): ParsedPush {
  if (event === null) return ignored("the delivery has no X-GitHub-Event header");
  if (event === "ping") return ignored("ping event: GitHub confirms the webhook was created");
  if (event !== "push") return ignored(`${event} events do not start builds`);

  const body = parsePayload("GitHub", gitHubPushSchema, payload);
  const deleted = body.deleted === true || ZERO_SHA.test(body.after);
  const branch = branchOf(body.ref);
  if (branch === null) return notABranch(body.ref, deleted);
  if (deleted) return ignored(`branch ${branch} was deleted`);

  const { clone_url, html_url, ssh_url, git_url } = body.repository;
  const headMessage =
    body.head_commit?.message ??
    body.commits.find((c) => c.id === body.after)?.message ??
    body.commits.at(-1)?.message;
  return {
    kind: "push",
    push: {
      provider: "github",
      repoUrls: repoUrls("GitHub", "repository.clone_url, html_url, ssh_url or git_url", [
        clone_url,
        html_url,
        ssh_url,
        git_url,
      ]),
      branch,
      commitHash: body.after,
      headCommitMessage: headMessage ?? "",
      changedFiles: changedFiles(body.commits),
      commitCount: body.commits.length,
    },
  };
}

const gitLabPushSchema = z.object({
  object_kind: z.string(),
  ref: z.string(),
  after: z.string(),
  checkout_sha: z.string().nullable().optional(),
  total_commits_count: z.number().int().nonnegative().optional(),
  project: z.object({
    git_http_url: z.string().optional(),
    git_ssh_url: z.string().optional(),
    web_url: z.string().optional(),
  }),
  repository: z
    .object({
      git_http_url: z.string().optional(),
      git_ssh_url: z.string().optional(),
      homepage: z.string().optional(),
    })
    .optional(),
  commits: z.array(commitSchema),
});

/** Reads a GitLab push delivery (`X-Gitlab-Event` and the parsed JSON body). */
export function parseGitLabPush(event: string | null, payload: unknown): ParsedPush {
  if (event === null) return ignored("the delivery has no X-Gitlab-Event header");
  if (event !== "Push Hook" && event !== "Tag Push Hook")
    return ignored(`${event} events do not start builds`);

  const body = parsePayload("GitLab", gitLabPushSchema, payload);
  // GitLab marks a deleted ref with an all-zero `after` and a null `checkout_sha`.
  const deleted = ZERO_SHA.test(body.after);
  if (body.object_kind === "tag_push") return tagPushed(body.ref.replace(/^refs\/tags\//, ""), deleted);
  if (body.object_kind !== "push") return ignored(`${body.object_kind} events do not start builds`);
  const branch = branchOf(body.ref);
  if (branch === null) return notABranch(body.ref, deleted);
  if (deleted) return ignored(`branch ${branch} was deleted`);

  const head = body.checkout_sha ?? body.after;
  // GitLab lists commits oldest first, so the last one is the head when no id matches.
  const headMessage = (body.commits.find((c) => c.id === head) ?? body.commits.at(-1))?.message;
  const { project, repository } = body;
  return {
    kind: "push",
    push: {
      provider: "gitlab",
      repoUrls: repoUrls("GitLab", "project.git_http_url, git_ssh_url or web_url", [
        project.git_http_url,
        project.git_ssh_url,
        project.web_url,
        repository?.git_http_url,
        repository?.git_ssh_url,
        repository?.homepage,
      ]),
      branch,
      commitHash: body.after,
      headCommitMessage: headMessage ?? "",
      changedFiles: changedFiles(body.commits),
      // GitLab includes at most 20 commits in the payload; the total is the real count.
      commitCount: body.total_commits_count ?? body.commits.length,
    },
  };
}

function ignored(reason: string): ParsedPush {
  return { kind: "ignored", reason };
}

function parsePayload<T>(provider: string, schema: z.ZodType<T>, payload: unknown): T {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new WebhookPayloadError(`${provider} push payload: ${formatPath(issue.path)}: ${issue.message}`);
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(body)";
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`))
    .join("");
}

/** Why a push of a ref that is not a branch (a tag, or anything else under refs/) builds nothing. */
function notABranch(ref: string, deleted: boolean): ParsedPush {
  const tag = TAG_REF.exec(ref)?.[1];
  return tag === undefined ? ignored(`${ref} is not a branch`) : tagPushed(tag, deleted);
}

function tagPushed(tag: string, deleted: boolean): ParsedPush {
  return ignored(
    deleted ? `tag ${tag} was deleted` : `tag ${tag} was pushed: tag pushes do not start builds`,
  );
}

function branchOf(ref: string): string | null {
  return BRANCH_REF.exec(ref)?.[1] ?? null;
}

function repoUrls(provider: string, fields: string, candidates: (string | undefined)[]): string[] {
  const urls = [...new Set(candidates.filter((u): u is string => u !== undefined && u !== ""))];
  if (urls.length === 0) throw new WebhookPayloadError(`${provider} push payload: ${fields}: none is set`);
  return urls;
}

function changedFiles(commits: z.infer<typeof commitFilesSchema>[]): string[] {
  const files = new Set<string>();
  for (const commit of commits) {
    for (const file of [...(commit.added ?? []), ...(commit.modified ?? []), ...(commit.removed ?? [])]) {
      files.add(file);
    }
  }
  return [...files];
}

/**
 * A repository URL in the form used to match a push to a trigger's stored URL: scheme and host lower
 * case, credentials, query and fragment dropped, trailing `/` and `.git` dropped. The SCP-like form
 * `git@host:owner/repo` becomes `ssh://host/owner/repo`, and an absolute path becomes a `file://` URL, so
 * two spellings of the same remote compare equal. Input that is not a URL is returned trimmed.
 */
export function normalizeRepoUrl(url: string): string {
  const trimmed = url.trim();
  const scp = /^(?:[^@/:]+@)?([^@/:]+):(?!\/\/)(.+)$/.exec(trimmed);
  let spelled = trimmed;
  if (scp) spelled = `ssh://${scp[1]}/${scp[2]!.replace(/^\/+/, "")}`;
  else if (trimmed.startsWith("/")) spelled = `file://${trimmed}`;

  let parsed: URL;
  try {
    parsed = new URL(spelled);
  } catch {
    return trimmed;
  }
  const host = parsed.host.toLowerCase();
  const path = parsed.pathname
    .replace(/\/+$/, "")
    .replace(/\.git$/i, "")
    .replace(/\/+$/, "");
  return `${parsed.protocol}//${host}${path}`;
}
