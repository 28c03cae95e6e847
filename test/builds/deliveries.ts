/**
 * Webhook deliveries as GitHub and GitLab send them: their documented payloads (test/fixtures/webhooks)
 * pointed at a test repository, with every header each provider documents.
 */
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

const FIXTURES = path.join(__dirname, "..", "fixtures", "webhooks");

export type GitHubFixture =
  | "push-new-branch"
  | "push-tag-deleted"
  | "ping"
  | "ping-organization"
  | "create"
  | "delete";
export type GitLabFixture = "push" | "tag-push";

// biome-ignore lint/suspicious/noExplicitAny: documented payloads are edited field by field
type Payload = Record<string, any>;

function load(provider: "github" | "gitlab", name: string): Payload {
  return JSON.parse(readFileSync(path.join(FIXTURES, provider, `${name}.json`), "utf8")) as Payload;
}

export interface Retarget {
  /** The repository URL a trigger was created with; it replaces the payload's clone URL. */
  repoUrl: string;
  /** The head commit; replaces the payload's `after` and its head commit's id. */
  sha?: string;
  message?: string;
  ref?: string;
}

/** A GitHub example payload, its clone URL (and, for pushes, its head commit and ref) replaced. */
export function githubPayload(name: GitHubFixture, to: Retarget): Payload {
  const payload = load("github", name);
  if (payload.repository !== undefined) payload.repository.clone_url = to.repoUrl;
  if (to.ref !== undefined) payload.ref = to.ref;
  if (to.sha !== undefined) {
    payload.after = to.sha;
    const head = payload.commits?.at(-1);
    if (head !== undefined) head.id = to.sha;
    if (payload.head_commit) payload.head_commit.id = to.sha;
  }
  if (to.message !== undefined) {
    const head = payload.commits?.at(-1);
    if (head !== undefined) head.message = to.message;
    if (payload.head_commit) payload.head_commit.message = to.message;
  }
  return payload;
}

/** A GitLab example payload, its project's HTTP URL (and, for pushes, its head commit and ref) replaced. */
export function gitlabPayload(name: GitLabFixture, to: Retarget): Payload {
  const payload = load("gitlab", name);
  payload.project.git_http_url = to.repoUrl;
  if (to.ref !== undefined) payload.ref = to.ref;
  if (to.sha !== undefined) {
    payload.after = to.sha;
    payload.checkout_sha = to.sha;
    const head = payload.commits.at(-1);
    if (head !== undefined) head.id = to.sha;
  }
  if (to.message !== undefined) {
    const head = payload.commits.at(-1);
    if (head !== undefined) head.message = to.message;
  }
  return payload;
}

export interface GitHubDelivery {
  event: string;
  body: string;
  headers: Record<string, string>;
}

/**
 * A GitHub delivery with the headers GitHub documents, signed with `secret` (both the SHA-1 and the
 * SHA-256 signature, as GitHub sends them). `form` sends it the way a webhook left at its default
 * content type does: the JSON in the `payload` field of a form, the signature over that form body.
 */
export function githubDelivery(
  event: string,
  payload: unknown,
  secret: string,
  options: { form?: boolean; delivery?: string } = {},
): GitHubDelivery {
  const json = JSON.stringify(payload);
  const body = options.form ? new URLSearchParams({ payload: json }).toString() : json;
  return {
    event,
    body,
    headers: {
      "Content-Type": options.form ? "application/x-www-form-urlencoded" : "application/json",
      "User-Agent": "GitHub-Hookshot/044aadd",
      "X-GitHub-Delivery": options.delivery ?? randomUUID(),
      "X-GitHub-Event": event,
      "X-GitHub-Hook-ID": "292430182",
      "X-GitHub-Hook-Installation-Target-ID": "79929171",
      "X-GitHub-Hook-Installation-Target-Type": "repository",
      "X-Hub-Signature": `sha1=${createHmac("sha1", secret).update(body).digest("hex")}`,
      "X-Hub-Signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
    },
  };
}

/**
 * A GitLab delivery with the headers GitLab documents. `idempotencyKey: null` leaves out the
 * `Idempotency-Key` header, as GitLab before 17.4 does.
 */
export function gitlabDelivery(
  event: string,
  payload: unknown,
  token: string,
  options: { idempotencyKey?: string | null; eventUuid?: string } = {},
): { body: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    "User-Agent": "GitLab/18.6.0",
    "X-Gitlab-Event": event,
    "X-Gitlab-Event-UUID": options.eventUuid ?? randomUUID(),
    "X-Gitlab-Instance": "https://gitlab.example.com",
    "X-Gitlab-Token": token,
    "X-Gitlab-Webhook-UUID": randomUUID(),
  };
  const key = options.idempotencyKey === undefined ? randomUUID() : options.idempotencyKey;
  if (key !== null) headers["Idempotency-Key"] = key;
  return { body: JSON.stringify(payload), headers };
}
