/** HTTP helpers for the builds platform's end-to-end tests: calls that keep every answer for audits. */
import { createHash, createHmac } from "node:crypto";
import { githubPushDelivery } from "../../local/demo-site";

export { githubSignature } from "../../local/demo-site";

export interface Envelope<T = unknown> {
  success: boolean;
  errors: { code: number; message: string }[];
  messages: { code: number; message: string }[];
  result: T;
  result_info?: { count: number; per_page: number; cursor: string | null };
}

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  json: Envelope<T>;
}

export interface CallOptions {
  token?: string;
  /** JSON-encoded unless a string. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A client of one base URL that records the raw text of every response it received. */
export function client(base: string) {
  const seen: string[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field and assert their shape
  async function call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["Content-Type"] ??= "application/json";
    }
    const res = await fetch(`${base}${path}`, { method, headers, body });
    const text = await res.text();
    seen.push(text);
    let json: Envelope<T>;
    try {
      json = JSON.parse(text) as Envelope<T>;
    } catch {
      json = { success: false, errors: [], messages: [], result: undefined as T };
    }
    return { status: res.status, headers: res.headers, text, json };
  }
  return { call, seen };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A JWT with any header and claims, HMAC-SHA256-signed with `secret` (or unsigned when `secret` is null). */
export function rawJwt(header: object, claims: object, secret: string | null): string {
  const unsigned = `${b64url(header)}.${b64url(claims)}`;
  if (secret === null) return `${unsigned}.`;
  return `${unsigned}.${createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export interface PushSpec {
  repoUrl: string;
  branch?: string;
  sha: string;
  message: string;
  files?: string[];
}

/** A GitHub push delivery body (the demo's, which `npm run demo` signs and sends the same way). */
export function githubPush(spec: PushSpec): string {
  return githubPushDelivery({
    repoUrl: spec.repoUrl,
    branch: spec.branch ?? "main",
    before: `${"0".repeat(39)}1`,
    sha: spec.sha,
    message: spec.message,
    files: spec.files ?? ["src/index.ts"],
  });
}

/** A GitLab push hook body (the fields the platform reads). */
export function gitlabPush(spec: PushSpec): string {
  return JSON.stringify({
    object_kind: "push",
    ref: `refs/heads/${spec.branch ?? "main"}`,
    after: spec.sha,
    checkout_sha: spec.sha,
    total_commits_count: 1,
    project: { git_http_url: `${spec.repoUrl}.git`, web_url: spec.repoUrl },
    commits: [
      {
        id: spec.sha,
        message: spec.message,
        added: spec.files ?? ["src/index.ts"],
        modified: [],
        removed: [],
      },
    ],
  });
}
