import { describe, expect, it } from "vitest";
import { commitTitle, MAX_COMMIT_MESSAGE_CHARS } from "./queue-build";
import { neverStarted } from "./routes/logs";
import { deliveryRepoKeys } from "./routes/webhooks";
import { DEPLOY_HOOK_SECRET, newDeployHookSecret, newWebhookSecret } from "./tokens";
import { providerOf } from "./trigger-store";

describe("commitTitle", () => {
  it.each([
    ["Fix the build\n\nLong description", "Fix the build"],
    ["  padded  \r\nrest", "padded"],
    ["", null],
    ["\nsecond line only", null],
  ])("keeps the first line of %j", (message, title) => {
    expect(commitTitle(message)).toBe(title);
  });

  it(`cuts at ${MAX_COMMIT_MESSAGE_CHARS} characters`, () => {
    expect(commitTitle("x".repeat(5000))).toHaveLength(MAX_COMMIT_MESSAGE_CHARS);
  });
});

describe("neverStarted", () => {
  it.each([
    [{ status: "stopped", initializing_at: null }, true],
    [{ status: "stopped", initializing_at: new Date() }, false],
    [{ status: "queued", initializing_at: null }, false],
    [{ status: "running", initializing_at: new Date() }, false],
  ] as const)("%j → %s", (build, expected) => {
    expect(neverStarted(build)).toBe(expected);
  });
});

describe("deliveryRepoKeys", () => {
  it("reads every URL GitHub gives, normalised and each once", () => {
    expect(
      deliveryRepoKeys("github", {
        repository: {
          clone_url: "https://github.com/Acme/Site.git",
          html_url: "https://github.com/Acme/Site",
          ssh_url: "git@github.com:Acme/Site.git",
        },
      }),
    ).toEqual(["https://github.com/Acme/Site", "ssh://github.com/Acme/Site"]);
  });

  it("reads GitLab's project and repository URLs", () => {
    expect(
      deliveryRepoKeys("gitlab", {
        project: { git_http_url: "https://gitlab.com/a/b.git", web_url: "https://gitlab.com/a/b" },
        repository: { homepage: "https://gitlab.com/a/b" },
      }),
    ).toEqual(["https://gitlab.com/a/b"]);
  });

  it.each([
    null,
    3,
    "x",
    {},
    { repository: "x" },
    { repository: { clone_url: 5 } },
    { project: { web_url: "" } },
  ])("finds nothing in %j", (payload) => {
    expect(deliveryRepoKeys("github", payload)).toEqual([]);
    expect(deliveryRepoKeys("gitlab", payload)).toEqual([]);
  });
});

describe("providerOf", () => {
  it.each([
    ["https://gitlab.com/a/b", "gitlab"],
    ["https://gitlab.example.org/a/b", "gitlab"],
    ["https://github.com/a/b", "github"],
    ["file:///tmp/repo", "github"],
  ])("%s → %s", (url, provider) => {
    expect(providerOf(url)).toBe(provider);
  });
});

describe("credentials", () => {
  it("makes 64-hex webhook secrets and 43-character deploy hook secrets, all different", () => {
    const webhook = new Set(Array.from({ length: 50 }, newWebhookSecret));
    const hooks = new Set(Array.from({ length: 50 }, newDeployHookSecret));
    expect(webhook.size).toBe(50);
    expect(hooks.size).toBe(50);
    for (const s of webhook) expect(s).toMatch(/^[0-9a-f]{64}$/);
    for (const s of hooks) expect(s).toMatch(DEPLOY_HOOK_SECRET);
  });
});
