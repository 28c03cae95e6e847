/**
 * The dashboard's only way to the platform: the public REST API, with the reader's token (an API token or
 * a development token, kept for this tab in sessionStorage) or, behind Cloudflare Access, with none: Access
 * adds its own assertion to every request.
 */

const TOKEN_KEY = "workers-platform.token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * A token handed over in the URL's fragment (`#token=…`, as `npm start` prints it): saved, and removed from
 * the address bar and the history at once. The fragment never reaches a server.
 */
export function takeTokenFromUrl(): void {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!match) return;
  history.replaceState(history.state, "", location.pathname + location.search);
  try {
    if (match[1]) saveToken(decodeURIComponent(match[1]));
  } catch {
    // not a token (bad percent-encoding): the sign-in page asks for one
  }
}

/** The API said the reader is not signed in (no token, a revoked or expired one). */
export class SignInNeeded extends Error {
  constructor(
    message: string,
    readonly expired: boolean,
  ) {
    super(message);
  }
}

/** The API refused a request: its status and its messages, as the envelope gave them. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly messages: string[],
  ) {
    super(messages.join("; "));
  }
}

export interface Page<T> {
  result: T;
  cursor: string | null;
}

interface Envelope<T> {
  success: boolean;
  result: T;
  errors: { code: number; message: string }[];
  result_info?: { cursor: string | null };
}

export function headers(extra: Record<string, string> = {}): Headers {
  const h = new Headers(extra);
  const token = savedToken();
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

/** Throws what a failed answer means; `null` when it did not fail. */
export async function failureOf(res: Response): Promise<Error | null> {
  if (res.ok) return null;
  let messages = [`${res.status} ${res.statusText}`];
  try {
    const body = (await res.json()) as Envelope<unknown>;
    if (Array.isArray(body.errors) && body.errors.length > 0) messages = body.errors.map((e) => e.message);
  } catch {
    // not an envelope: keep the status line
  }
  if (res.status === 401) {
    const message = messages[0] ?? "sign-in needed";
    return new SignInNeeded(message, /expired/i.test(message));
  }
  return new ApiFailure(res.status, messages);
}

/** One API call; answers the envelope's result and the next page's cursor. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<Page<T>> {
  const res = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const failure = await failureOf(res);
  if (failure) throw failure;
  const envelope = (await res.json()) as Envelope<T>;
  return { result: envelope.result, cursor: envelope.result_info?.cursor ?? null };
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>("GET", path)).result;
}

/** A query string of the set values. */
export function query(values: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values))
    if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export interface Build {
  build_uuid: string;
  worker_id: string;
  trigger_id: string | null;
  status: "queued" | "initializing" | "running" | "stopped";
  build_outcome: "success" | "failed" | "cancelled" | "skipped" | "terminated" | null;
  failure_class: string | null;
  branch: string;
  commit_hash: string | null;
  commit_message: string | null;
  production: boolean;
  source: string;
  created_at: string;
  initializing_at: string | null;
  running_at: string | null;
  stopped_at: string | null;
  deployment_url: string | null;
  preview_url: string | null;
}

export interface Worker {
  id: string;
  name: string;
  created_at: string;
  last_build?: Build | null;
}

export interface EnvVar {
  name: string;
  type: "text" | "secret";
  value: string | null;
}

export interface Trigger {
  id: string;
  worker_id: string;
  repo_url: string;
  provider: "github" | "gitlab";
  production_branch: string;
  build_non_production_branches: boolean;
  build_command: string | null;
  deploy_command: string;
  non_production_deploy_command: string;
  root_directory: string;
  path_includes: string[];
  path_excludes: string[];
  build_caching_enabled: boolean;
  env_vars: EnvVar[];
  webhook_url_path: string;
  /** Only in the answer that created the trigger: the secret to give the Git host's webhook. */
  webhook_secret?: string;
  created_at: string;
}

export interface DeployHook {
  id: string;
  trigger_id: string;
  name: string;
  branch: string;
  created_at: string;
  url_path?: string;
}
