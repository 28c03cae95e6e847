/**
 * Commit statuses: what a build reports on its commit at GitHub (`POST {api}/repos/{owner}/{repo}/statuses/{sha}`)
 * and GitLab (`POST {api}/projects/{url-encoded path}/statuses/{sha}`), and when a failed report is tried
 * again. Pure; the BuildBuddy's outbox (management/status-outbox.ts) sends them.
 */
import type { BuildOutcome, FailureClass } from "../shared/protocol";

export type Provider = "github" | "gitlab";

/** The providers' public APIs, used when a connection names no API URL of its own. */
export const DEFAULT_STATUS_API_URL: Record<Provider, string> = {
  github: "https://api.github.com",
  gitlab: "https://gitlab.com/api/v4",
};

/** What a connection's status token is sealed for: the connection, and this use (its webhook secret is bound to the id alone). */
export function statusTokenAad(connectionId: string): string {
  return `${connectionId}:status_token`;
}

/** What a build reports, in the order a build passes through them. */
export type StatusReport =
  | { state: "queued" }
  | { state: "running" }
  | { state: "stopped"; outcome: BuildOutcome; failureClass?: FailureClass };

/** A report only ever replaces one of a lower rank: a late `queued` never follows `running` or an outcome. */
export function reportRank(report: StatusReport): number {
  return report.state === "queued" ? 0 : report.state === "running" ? 1 : 2;
}

type Phase = "queued" | "running" | BuildOutcome;

function phaseOf(report: StatusReport): Phase {
  return report.state === "stopped" ? report.outcome : report.state;
}

/** GitHub has no running or cancelled state: a running build is pending, a cancelled or skipped one an error. */
export const GITHUB_STATES: Record<Phase, "pending" | "success" | "failure" | "error"> = {
  queued: "pending",
  running: "pending",
  success: "success",
  failed: "failure",
  terminated: "failure",
  cancelled: "error",
  skipped: "error",
};

/** GitLab's `skipped` is recent (17.6): a skipped build is reported as canceled, which every version takes. */
export const GITLAB_STATES: Record<Phase, "pending" | "running" | "success" | "failed" | "canceled"> = {
  queued: "pending",
  running: "running",
  success: "success",
  failed: "failed",
  terminated: "failed",
  cancelled: "canceled",
  skipped: "canceled",
};

const FAILURE_REASONS: Record<FailureClass, string> = {
  initialization: "it could not start",
  clone: "the repository could not be checked out",
  install: "installing dependencies failed",
  build_command: "the build command failed",
  deploy_command: "the deploy command failed",
  timeout: "it ran past its time limit",
  health_check: "the runner stopped reporting",
  resource_limit: "it went over a resource limit",
  internal: "a platform error",
};

/** GitHub keeps at most 140 characters of a description. */
export const MAX_DESCRIPTION_CHARS = 140;

/** The status's one-line description; a successful build's preview URL is in it when there is one. */
export function statusDescription(report: StatusReport, previewUrl?: string | null): string {
  const phase = phaseOf(report);
  const reason =
    report.state === "stopped" && report.failureClass ? FAILURE_REASONS[report.failureClass] : "";
  const text: Record<Phase, string> = {
    queued: "Build queued",
    running: "Build running",
    success: "Build succeeded",
    failed: reason ? `Build failed: ${reason}` : "Build failed",
    terminated: "Build terminated: it ran past its time limit",
    cancelled: "Build cancelled",
    skipped: "Build skipped: a newer commit of the branch was pushed",
  };
  if (previewUrl && phase === "success") {
    const withPreview = `${text.success}. Preview: ${previewUrl}`;
    if (withPreview.length <= MAX_DESCRIPTION_CHARS) return withPreview;
    if (previewUrl.length <= MAX_DESCRIPTION_CHARS) return previewUrl;
  }
  return text[phase].slice(0, MAX_DESCRIPTION_CHARS);
}

/**
 * The repository as the provider's API names it, from the connection's URL: GitHub `owner/repo` (the last
 * two segments), GitLab the whole `namespace/project` path. Null when the URL has fewer than two segments.
 */
export function repoPath(repoUrl: string, provider: Provider): string | null {
  let pathname: string;
  try {
    pathname = new URL(repoUrl).pathname;
  } catch {
    return null;
  }
  const parts = pathname
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .split("/")
    .filter((part) => part !== "")
    .map((part) => decodeURIComponent(part));
  if (parts.length < 2) return null;
  return (provider === "github" ? parts.slice(-2) : parts).join("/");
}

/** Everything a report needs about where it goes. */
export interface StatusTarget {
  provider: Provider;
  /** The API's base URL, without a trailing slash. */
  apiUrl: string;
  /** `owner/repo` (GitHub) or `namespace/project` (GitLab). */
  repoPath: string;
  sha: string;
  token: string;
  /** GitHub's `context`, GitLab's `name`: one per Worker, so that Workers built from one repository do not overwrite each other. */
  context: string;
}

export interface StatusRequest {
  url: string;
  headers: Record<string, string>;
  body: Record<string, string>;
}

export const STATUS_USER_AGENT = "workers-builds";

/** The context (GitHub) or name (GitLab) of a Worker's statuses. */
export function statusContext(workerName: string): string {
  return `Workers Builds: ${workerName}`;
}

/** The request that reports `report` on the target's commit. */
export function statusRequest(
  target: StatusTarget,
  report: StatusReport,
  links: { targetUrl?: string; previewUrl?: string | null } = {},
): StatusRequest {
  const description = statusDescription(report, links.previewUrl);
  const link: Record<string, string> = links.targetUrl === undefined ? {} : { target_url: links.targetUrl };
  const base = target.apiUrl.replace(/\/+$/, "");
  if (target.provider === "github") {
    const [owner, repo] = target.repoPath.split("/") as [string, string];
    return {
      url: `${base}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${target.sha}`,
      headers: {
        Authorization: `Bearer ${target.token}`,
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": STATUS_USER_AGENT,
        "Content-Type": "application/json",
      },
      body: { state: GITHUB_STATES[phaseOf(report)], ...link, description, context: target.context },
    };
  }
  return {
    url: `${base}/projects/${encodeURIComponent(target.repoPath)}/statuses/${target.sha}`,
    headers: {
      "PRIVATE-TOKEN": target.token,
      "User-Agent": STATUS_USER_AGENT,
      "Content-Type": "application/json",
    },
    body: { state: GITLAB_STATES[phaseOf(report)], name: target.context, ...link, description },
  };
}

/** Attempts at one report before it is given up (a newer report starts again). */
export const MAX_STATUS_ATTEMPTS = 8;
const FIRST_RETRY_MS = 2_000;
const MAX_RETRY_MS = 5 * 60_000;

/**
 * How long to wait after failed attempt number `attempt` (1, 2, ...): 2 s doubling up to 5 minutes, or the
 * provider's `Retry-After` (seconds) when it asks for longer, within the same ceiling.
 */
export function retryDelayMs(attempt: number, retryAfter?: string | null): number {
  const backoff = Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1), MAX_RETRY_MS);
  const asked = Number(retryAfter);
  return retryAfter && Number.isFinite(asked) && asked > 0
    ? Math.min(Math.max(backoff, asked * 1000), MAX_RETRY_MS)
    : backoff;
}

/**
 * What an answer means for the report: `sent`; `retry` for what passes (5xx, 408, 429, a rate limit's 403);
 * `refused` for what sending again would not change (a bad token, an unknown repository or commit).
 */
export function answerVerdict(status: number, headers: Pick<Headers, "get">): "sent" | "retry" | "refused" {
  if (status >= 200 && status < 300) return "sent";
  if (status >= 500 || status === 408 || status === 429) return "retry";
  if (
    status === 403 &&
    (headers.get("retry-after") !== null || headers.get("x-ratelimit-remaining") === "0")
  ) {
    return "retry";
  }
  return "refused";
}

/**
 * Why `text` cannot be a connection's status API URL, or null when it can: https, no credentials, query
 * or fragment; plain http only to a loopback address, and only where `allowLoopbackHttp` (the local stack).
 */
export function statusApiUrlProblem(text: string, allowLoopbackHttp: boolean): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an https:// URL";
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback && allowLoopbackHttp)) {
    return allowLoopbackHttp
      ? "must be an https:// URL (or http:// to a loopback address)"
      : "must be an https:// URL";
  }
  if (url.username !== "" || url.password !== "") return "must not carry credentials";
  if (url.search !== "" || url.hash !== "") return "must not have a query or a fragment";
  return null;
}
