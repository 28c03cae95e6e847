import { describe, expect, it } from "vitest";
import {
  answerVerdict,
  MAX_DESCRIPTION_CHARS,
  repoPath,
  reportRank,
  retryDelayMs,
  type StatusReport,
  type StatusTarget,
  statusApiUrlProblem,
  statusDescription,
  statusRequest,
} from "./commit-status";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "ghp_secretTOKEN123";
const github: StatusTarget = {
  provider: "github",
  apiUrl: "https://api.github.com",
  repoPath: "acme/site",
  sha: SHA,
  token: TOKEN,
  context: "Workers Builds: site",
};
const gitlab: StatusTarget = {
  ...github,
  provider: "gitlab",
  apiUrl: "https://gitlab.example.com/api/v4/",
  repoPath: "group/sub/site",
};
const LINK = "https://builds.example.com/api/builds/b-1";

const stopped = (
  outcome: Extract<StatusReport, { state: "stopped" }>["outcome"],
  failureClass?: "build_command",
) => ({ state: "stopped", outcome, ...(failureClass ? { failureClass } : {}) }) as StatusReport;

// Every state a build reports: the GitHub and GitLab states and the description each gets.
const CASES: [string, StatusReport, string, string, string][] = [
  ["queued", { state: "queued" }, "pending", "pending", "Build queued"],
  ["running", { state: "running" }, "pending", "running", "Build running"],
  ["success", stopped("success"), "success", "success", "Build succeeded"],
  [
    "failed",
    stopped("failed", "build_command"),
    "failure",
    "failed",
    "Build failed: the build command failed",
  ],
  ["failed, no class", stopped("failed"), "failure", "failed", "Build failed"],
  ["terminated", stopped("terminated"), "failure", "failed", "Build terminated: it ran past its time limit"],
  ["cancelled", stopped("cancelled"), "error", "canceled", "Build cancelled"],
  [
    "skipped",
    stopped("skipped"),
    "error",
    "canceled",
    "Build skipped: a newer commit of the branch was pushed",
  ],
];

describe("statusRequest", () => {
  it.each(CASES)("%s: GitHub's statuses request, exactly", (_name, report, githubState, _gl, description) => {
    expect(statusRequest(github, report, { targetUrl: LINK })).toEqual({
      url: `https://api.github.com/repos/acme/site/statuses/${SHA}`,
      headers: {
        Authorization: `Bearer ${TOKEN}`,
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "workers-builds",
        "Content-Type": "application/json",
      },
      body: { state: githubState, target_url: LINK, description, context: "Workers Builds: site" },
    });
  });

  it.each(CASES)("%s: GitLab's statuses request, exactly", (_name, report, _gh, gitlabState, description) => {
    expect(statusRequest(gitlab, report, { targetUrl: LINK })).toEqual({
      url: `https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fsite/statuses/${SHA}`,
      headers: { "PRIVATE-TOKEN": TOKEN, "User-Agent": "workers-builds", "Content-Type": "application/json" },
      body: { state: gitlabState, name: "Workers Builds: site", target_url: LINK, description },
    });
  });

  it("leaves target_url out when there is no link to the build", () => {
    expect(statusRequest(github, { state: "queued" }).body).toEqual({
      state: "pending",
      description: "Build queued",
      context: "Workers Builds: site",
    });
  });

  it("puts a successful build's preview URL in the description, and only a successful one's", () => {
    const preview = "https://abcd1234-site.acme.workers.dev";
    expect(statusRequest(github, stopped("success"), { previewUrl: preview }).body.description).toBe(
      `Build succeeded. Preview: ${preview}`,
    );
    expect(statusDescription(stopped("failed"), preview)).toBe("Build failed");
    expect(statusDescription({ state: "running" }, preview)).toBe("Build running");
    expect(statusDescription(stopped("success"), null)).toBe("Build succeeded");
  });

  it("keeps a description within GitHub's 140 characters, preview URL whole or left out", () => {
    const long = `https://${"a".repeat(100)}.workers.dev`;
    expect(statusDescription(stopped("success"), long)).toBe(long);
    const tooLong = `https://${"a".repeat(200)}.workers.dev`;
    expect(statusDescription(stopped("success"), tooLong)).toBe("Build succeeded");
    for (const [, report] of CASES) {
      expect(statusDescription(report, long).length).toBeLessThanOrEqual(MAX_DESCRIPTION_CHARS);
    }
  });
});

describe("reportRank", () => {
  it("orders queued < running < every outcome", () => {
    expect(reportRank({ state: "queued" })).toBeLessThan(reportRank({ state: "running" }));
    for (const [, report] of CASES.slice(2)) {
      expect(reportRank(report)).toBeGreaterThan(reportRank({ state: "running" }));
    }
  });
});

describe("repoPath", () => {
  it.each([
    ["https://github.com/acme/site", "github", "acme/site"],
    ["https://github.com/acme/site.git", "github", "acme/site"],
    ["https://ghe.example.com/acme/site/", "github", "acme/site"],
    ["https://gitlab.com/group/sub/site.git", "gitlab", "group/sub/site"],
    ["https://gitlab.example.com/group/site", "gitlab", "group/site"],
    ["file:///tmp/repos/acme/site.git", "github", "acme/site"],
    ["https://github.com/acme", "github", null],
    ["not a url", "gitlab", null],
  ] as const)("%s (%s) → %s", (url, provider, expected) => {
    expect(repoPath(url, provider)).toBe(expected);
  });
});

describe("retries", () => {
  it("waits 2 s doubling up to 5 minutes, longer when the provider asks", () => {
    expect([1, 2, 3, 4, 8, 20].map((n) => retryDelayMs(n))).toEqual([
      2_000, 4_000, 8_000, 16_000, 256_000, 300_000,
    ]);
    expect(retryDelayMs(1, "30")).toBe(30_000);
    expect(retryDelayMs(4, "1")).toBe(16_000);
    expect(retryDelayMs(1, "86400")).toBe(300_000);
    expect(retryDelayMs(1, "soon")).toBe(2_000);
  });

  it.each([
    [201, {}, "sent"],
    [200, {}, "sent"],
    [500, {}, "retry"],
    [502, {}, "retry"],
    [429, {}, "retry"],
    [408, {}, "retry"],
    [403, { "retry-after": "60" }, "retry"],
    [403, { "x-ratelimit-remaining": "0" }, "retry"],
    [403, {}, "refused"],
    [401, {}, "refused"],
    [404, {}, "refused"],
    [422, {}, "refused"],
    [400, {}, "refused"],
  ] as const)("an answer %s %j is %s", (status, headers, verdict) => {
    expect(answerVerdict(status, new Headers(headers))).toBe(verdict);
  });
});

describe("statusApiUrlProblem", () => {
  it.each([
    ["https://ghe.example.com/api/v3", false, null],
    ["https://gitlab.example.com/api/v4", false, null],
    ["http://ghe.example.com/api/v3", false, "must be an https:// URL"],
    ["http://127.0.0.1:8080", false, "must be an https:// URL"],
    ["http://127.0.0.1:8080", true, null],
    ["http://localhost:8080/api", true, null],
    ["http://[::1]:8080", true, null],
    ["http://10.0.0.1", true, "must be an https:// URL (or http:// to a loopback address)"],
    ["ftp://example.com", false, "must be an https:// URL"],
    ["https://user:pw@ghe.example.com", false, "must not carry credentials"],
    ["https://ghe.example.com/api?x=1", false, "must not have a query or a fragment"],
    ["nonsense", false, "must be an https:// URL"],
  ] as const)("%s (loopback http allowed: %s) → %s", (url, allow, problem) => {
    expect(statusApiUrlProblem(url, allow)).toBe(problem);
  });
});
