import { describe, expect, it } from "vitest";
import {
  deliveryIdOf,
  deliveryPayload,
  normalizeRepoUrl,
  parseGitHubPush,
  parseGitLabPush,
  verifyGitHubSignature,
  verifyGitLabToken,
  WebhookPayloadError,
} from "./webhooks";

const encoder = new TextEncoder();

async function sign(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(body)));
  return `sha256=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const SECRET = "whsec-4f1c9a2e7b";
const BODY = '{"ref":"refs/heads/main","after":"9f1c3e0"}';

describe("verifyGitHubSignature", () => {
  it("accepts the example from GitHub's documentation", async () => {
    const header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    expect(
      await verifyGitHubSignature("It's a Secret to Everybody", encoder.encode("Hello, World!"), header),
    ).toBe(true);
  });

  it.each([
    { name: "a signature of the body with the secret is valid", secret: SECRET, body: BODY, valid: true },
    {
      name: "a signature made with another secret is refused",
      secret: "other-secret",
      body: BODY,
      valid: false,
    },
    {
      name: "a signature of another body is refused (tampered body)",
      secret: SECRET,
      body: BODY.replace("main", "mains"),
      valid: false,
    },
  ])("$name", async ({ secret, body, valid }) => {
    const header = await sign(secret, body);
    expect(await verifyGitHubSignature(SECRET, encoder.encode(BODY), header)).toBe(valid);
  });

  it("accepts the body as an ArrayBuffer as well as a Uint8Array", async () => {
    const header = await sign(SECRET, BODY);
    const buffer = new ArrayBuffer(encoder.encode(BODY).byteLength);
    new Uint8Array(buffer).set(encoder.encode(BODY));
    expect(await verifyGitHubSignature(SECRET, buffer, header)).toBe(true);
  });

  it.each([
    { name: "a missing header", header: async () => null },
    { name: "an empty header", header: async () => "" },
    {
      name: "the SHA-1 prefix of the old header",
      header: async () => (await sign(SECRET, BODY)).replace("sha256=", "sha1="),
    },
    { name: "no prefix", header: async () => (await sign(SECRET, BODY)).slice("sha256=".length) },
    { name: "a hex digest one character short", header: async () => (await sign(SECRET, BODY)).slice(0, -1) },
    { name: "a hex digest one character long", header: async () => `${await sign(SECRET, BODY)}0` },
    { name: "characters that are not hex", header: async () => `sha256=${"zz".repeat(32)}` },
    { name: "the right digest with trailing text", header: async () => `${await sign(SECRET, BODY)} extra` },
  ])("refuses $name", async ({ header }) => {
    expect(await verifyGitHubSignature(SECRET, encoder.encode(BODY), await header())).toBe(false);
  });

  it("refuses to verify with an empty secret, which anyone could sign with", async () => {
    await expect(verifyGitHubSignature("", encoder.encode(BODY), await sign("x", BODY))).rejects.toThrow(
      /webhook secret is empty/,
    );
  });
});

describe("verifyGitLabToken", () => {
  it.each([
    { name: "the exact secret is accepted", header: SECRET, valid: true },
    { name: "a missing header is refused", header: null, valid: false },
    { name: "an empty header is refused", header: "", valid: false },
    { name: "a prefix of the secret is refused", header: SECRET.slice(0, -1), valid: false },
    { name: "the secret with extra characters is refused", header: `${SECRET}x`, valid: false },
    { name: "the secret in another case is refused", header: SECRET.toUpperCase(), valid: false },
    { name: "a same-length wrong token is refused", header: SECRET.replace("4", "5"), valid: false },
  ])("$name", ({ header, valid }) => {
    expect(verifyGitLabToken(SECRET, header)).toBe(valid);
  });

  it("refuses to verify with an empty secret", () => {
    expect(() => verifyGitLabToken("", "")).toThrow(/webhook secret is empty/);
  });
});

// Trimmed from a real delivery: the fields GitHub documents for the push event, plus some it sends that
// the parser must tolerate.
function gitHubPush(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ref: "refs/heads/feature/login",
    before: "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
    after: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
    created: false,
    deleted: false,
    forced: false,
    compare: "https://github.com/acme/shop/compare/1a2b3c4d5e6f...9f8e7d6c5b4a",
    repository: {
      id: 123456789,
      name: "shop",
      full_name: "acme/shop",
      private: true,
      html_url: "https://github.com/acme/shop",
      clone_url: "https://github.com/acme/shop.git",
      ssh_url: "git@github.com:acme/shop.git",
      git_url: "git://github.com/acme/shop.git",
      default_branch: "main",
    },
    pusher: { name: "octocat", email: "octocat@example.com" },
    commits: [
      {
        id: "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a",
        message: "feat: login form",
        timestamp: "2025-06-01T10:00:00Z",
        author: { name: "Octo Cat", email: "octocat@example.com", username: "octocat" },
        added: ["src/login.ts", "src/login.css"],
        removed: [],
        modified: ["src/index.ts"],
      },
      {
        id: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
        message: "fix: login redirect\n\nCloses #12",
        timestamp: "2025-06-01T10:05:00Z",
        author: { name: "Octo Cat", email: "octocat@example.com", username: "octocat" },
        added: [],
        removed: ["src/old-login.ts"],
        modified: ["src/login.ts", "README.md"],
      },
    ],
    head_commit: {
      id: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
      message: "fix: login redirect\n\nCloses #12",
      added: [],
      removed: ["src/old-login.ts"],
      modified: ["src/login.ts", "README.md"],
    },
    ...over,
  };
}

describe("parseGitHubPush", () => {
  it("normalises a branch push", () => {
    expect(parseGitHubPush("push", gitHubPush())).toEqual({
      kind: "push",
      push: {
        provider: "github",
        repoUrls: [
          "https://github.com/acme/shop.git",
          "https://github.com/acme/shop",
          "git@github.com:acme/shop.git",
          "git://github.com/acme/shop.git",
        ],
        branch: "feature/login",
        commitHash: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
        headCommitMessage: "fix: login redirect\n\nCloses #12",
        // Per commit: added, then modified, then removed.
        changedFiles: ["src/login.ts", "src/login.css", "src/index.ts", "README.md", "src/old-login.ts"],
        commitCount: 2,
      },
    });
  });

  it("a new branch pushed with no new commits builds its head with no changed files", () => {
    const parsed = parseGitHubPush("push", gitHubPush({ created: true, commits: [] }));
    expect(parsed).toMatchObject({
      kind: "push",
      push: { changedFiles: [], commitCount: 0, headCommitMessage: "fix: login redirect\n\nCloses #12" },
    });
  });

  it("without head_commit the message comes from the commit that is the new head", () => {
    const parsed = parseGitHubPush("push", gitHubPush({ head_commit: null }));
    expect(parsed).toMatchObject({ push: { headCommitMessage: "fix: login redirect\n\nCloses #12" } });
  });

  it("keeps only the repository URLs that are present", () => {
    const parsed = parseGitHubPush(
      "push",
      gitHubPush({ repository: { html_url: "https://github.com/acme/shop" } }),
    );
    expect(parsed).toMatchObject({ push: { repoUrls: ["https://github.com/acme/shop"] } });
  });

  it.each([
    {
      name: "a ping",
      event: "ping",
      payload: { zen: "Keep it logically awesome.", hook_id: 1 },
      reason: /ping/,
    },
    {
      name: "a missing event header",
      event: null,
      payload: gitHubPush(),
      reason: /no X-GitHub-Event header/,
    },
    { name: "a pull_request event", event: "pull_request", payload: {}, reason: /pull_request events/ },
    {
      name: "a tag push",
      event: "push",
      payload: gitHubPush({ ref: "refs/tags/v1.2.0", base_ref: "refs/heads/main" }),
      reason: /^tag v1\.2\.0 was pushed: tag pushes do not start builds$/,
    },
    {
      name: "a branch deletion",
      event: "push",
      payload: gitHubPush({ deleted: true, after: "0".repeat(40), commits: [], head_commit: null }),
      reason: /branch feature\/login was deleted/,
    },
    {
      name: "a push whose after is all zeros even without deleted",
      event: "push",
      payload: gitHubPush({ deleted: undefined, after: "0".repeat(40), commits: [], head_commit: null }),
      reason: /was deleted/,
    },
  ])("ignores $name", ({ event, payload, reason }) => {
    const parsed = parseGitHubPush(event, payload);
    expect(parsed.kind).toBe("ignored");
    expect(parsed.kind === "ignored" && parsed.reason).toMatch(reason);
  });

  it.each([
    { name: "a body that is not an object", payload: "ref=main", message: /GitHub push payload: \(body\): / },
    { name: "a missing ref", payload: gitHubPush({ ref: undefined }), message: /: ref: / },
    { name: "an after that is not a string", payload: gitHubPush({ after: 42 }), message: /: after: / },
    {
      name: "a missing repository",
      payload: gitHubPush({ repository: undefined }),
      message: /: repository: /,
    },
    {
      name: "a commit whose file list is not a list of strings",
      payload: gitHubPush({ commits: [{ id: "a", message: "m", added: [1] }] }),
      message: /: commits\[0\]\.added\[0\]: /,
    },
    {
      name: "a repository without any URL",
      payload: gitHubPush({ repository: { name: "shop" } }),
      message: /repository\.clone_url, html_url, ssh_url or git_url: none is set/,
    },
  ])("throws WebhookPayloadError naming the field for $name", ({ payload, message }) => {
    expect(() => parseGitHubPush("push", payload)).toThrow(WebhookPayloadError);
    expect(() => parseGitHubPush("push", payload)).toThrow(message);
  });
});

// Shaped like GitLab's documented "Push Hook" example.
function gitLabPush(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    object_kind: "push",
    event_name: "push",
    before: "95790bf891e76fee5e1747ab589903a6a1f80f22",
    after: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    ref: "refs/heads/main",
    ref_protected: true,
    checkout_sha: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    user_username: "jsmith",
    project_id: 15,
    project: {
      id: 15,
      name: "Diaspora",
      web_url: "http://example.com/mike/diaspora",
      git_ssh_url: "git@example.com:mike/diaspora.git",
      git_http_url: "http://example.com/mike/diaspora.git",
      namespace: "Mike",
      path_with_namespace: "mike/diaspora",
      default_branch: "main",
    },
    repository: {
      name: "Diaspora",
      url: "git@example.com:mike/diaspora.git",
      homepage: "http://example.com/mike/diaspora",
      git_http_url: "http://example.com/mike/diaspora.git",
      git_ssh_url: "git@example.com:mike/diaspora.git",
    },
    commits: [
      {
        id: "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327",
        message:
          "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information",
        title: "Update Catalan translation to e38cb41.",
        timestamp: "2011-12-12T14:27:31+02:00",
        author: { name: "Jordi Mallach", email: "jordi@softcatala.org" },
        added: ["CHANGELOG"],
        modified: ["app/controller/application.rb"],
        removed: [],
      },
      {
        id: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        message: "fixed readme",
        title: "fixed readme",
        timestamp: "2012-01-03T23:36:29+02:00",
        author: { name: "GitLab dev user", email: "gitlabdev@dv6700.(none)" },
        added: ["CHANGELOG"],
        modified: ["app/controller/application.rb", "README.md"],
        removed: [],
      },
    ],
    total_commits_count: 4,
    ...over,
  };
}

describe("parseGitLabPush", () => {
  it("normalises a branch push, counting commits by total_commits_count", () => {
    expect(parseGitLabPush("Push Hook", gitLabPush())).toEqual({
      kind: "push",
      push: {
        provider: "gitlab",
        repoUrls: [
          "http://example.com/mike/diaspora.git",
          "git@example.com:mike/diaspora.git",
          "http://example.com/mike/diaspora",
        ],
        branch: "main",
        commitHash: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        headCommitMessage: "fixed readme",
        changedFiles: ["CHANGELOG", "app/controller/application.rb", "README.md"],
        commitCount: 4,
      },
    });
  });

  it.each([
    {
      name: "the commit whose id is checkout_sha gives the head message, wherever it is listed",
      over: { commits: [...(gitLabPush().commits as unknown[])].reverse() },
      message: "fixed readme",
    },
    {
      name: "without a commit matching checkout_sha the last commit gives the head message",
      over: { checkout_sha: "ffffffffffffffffffffffffffffffffffffffff" },
      message: "fixed readme",
    },
    {
      name: "without checkout_sha the commit whose id is after gives the head message",
      over: { checkout_sha: null, after: "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327" },
      message:
        "Update Catalan translation to e38cb41.\n\nSee https://gitlab.com/gitlab-org/gitlab for more information",
    },
    {
      name: "no commits gives an empty head message",
      over: { commits: [], total_commits_count: 0 },
      message: "",
    },
  ])("$name", ({ over, message }) => {
    expect(parseGitLabPush("Push Hook", gitLabPush(over))).toMatchObject({
      push: { headCommitMessage: message },
    });
  });

  it("without total_commits_count the commit count is the number of commits listed", () => {
    expect(parseGitLabPush("Push Hook", gitLabPush({ total_commits_count: undefined }))).toMatchObject({
      push: { commitCount: 2 },
    });
  });

  it("works with only the project's URLs", () => {
    const parsed = parseGitLabPush("Push Hook", gitLabPush({ repository: undefined }));
    expect(parsed).toMatchObject({
      push: { repoUrls: expect.arrayContaining(["http://example.com/mike/diaspora"]) },
    });
  });

  it.each([
    {
      name: "a missing event header",
      event: null,
      payload: gitLabPush(),
      reason: /no X-Gitlab-Event header/,
    },
    {
      name: "a System Hook",
      event: "System Hook",
      payload: gitLabPush({ event_name: "push" }),
      reason: /^System Hook events do not start builds$/,
    },
    {
      name: "a Merge Request Hook",
      event: "Merge Request Hook",
      payload: {},
      reason: /Merge Request Hook events/,
    },
    {
      name: "a Push Hook whose object_kind is neither push nor tag_push",
      event: "Push Hook",
      payload: gitLabPush({ object_kind: "pipeline" }),
      reason: /^pipeline events do not start builds$/,
    },
    {
      name: "a Tag Push Hook",
      event: "Tag Push Hook",
      payload: gitLabPush({ object_kind: "tag_push", ref: "refs/tags/v1.0.0", commits: [] }),
      reason: /^tag v1\.0\.0 was pushed: tag pushes do not start builds$/,
    },
    {
      name: "a tag deletion",
      event: "Tag Push Hook",
      payload: gitLabPush({
        object_kind: "tag_push",
        ref: "refs/tags/v1.0.0",
        after: "0".repeat(40),
        checkout_sha: null,
      }),
      reason: /^tag v1\.0\.0 was deleted$/,
    },
    {
      name: "a push to a ref that is neither a branch nor a tag",
      event: "Push Hook",
      payload: gitLabPush({ ref: "refs/merge-requests/1/head" }),
      reason: /^refs\/merge-requests\/1\/head is not a branch$/,
    },
    {
      name: "a branch deletion",
      event: "Push Hook",
      payload: gitLabPush({ after: "0".repeat(40), checkout_sha: null, commits: [], total_commits_count: 0 }),
      reason: /branch main was deleted/,
    },
  ])("ignores $name", ({ event, payload, reason }) => {
    const parsed = parseGitLabPush(event, payload);
    expect(parsed.kind).toBe("ignored");
    expect(parsed.kind === "ignored" && parsed.reason).toMatch(reason);
  });

  it.each([
    { name: "a null body", payload: null, message: /GitLab push payload: \(body\): / },
    { name: "a missing project", payload: gitLabPush({ project: undefined }), message: /: project: / },
    {
      name: "a negative total_commits_count",
      payload: gitLabPush({ total_commits_count: -1 }),
      message: /: total_commits_count: /,
    },
    {
      name: "a commit without a message",
      payload: gitLabPush({ commits: [{ id: "da15608", added: [] }] }),
      message: /: commits\[0\]\.message: /,
    },
    {
      name: "a project without any URL",
      payload: gitLabPush({ project: { id: 15 }, repository: undefined }),
      message: /project\.git_http_url, git_ssh_url or web_url: none is set/,
    },
  ])("throws WebhookPayloadError naming the field for $name", ({ payload, message }) => {
    expect(() => parseGitLabPush("Push Hook", payload)).toThrow(WebhookPayloadError);
    expect(() => parseGitLabPush("Push Hook", payload)).toThrow(message);
  });
});

describe("normalizeRepoUrl", () => {
  it.each([
    {
      name: "drops a trailing .git",
      url: "https://github.com/acme/shop.git",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "drops a trailing slash",
      url: "https://github.com/acme/shop/",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "drops .git then a slash",
      url: "https://github.com/acme/shop.git/",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "drops .GIT in any case",
      url: "https://github.com/acme/shop.GIT",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "lowercases the host",
      url: "https://GitHub.COM/acme/shop",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "keeps the path's case",
      url: "https://github.com/Acme/Shop",
      normal: "https://github.com/Acme/Shop",
    },
    {
      name: "drops credentials",
      url: "https://x-access-token:ghs_abc@github.com/acme/shop.git",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "drops query and fragment",
      url: "https://github.com/acme/shop?tab=readme#top",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "keeps a non-default port",
      url: "https://git.example.com:8443/a/b.git",
      normal: "https://git.example.com:8443/a/b",
    },
    {
      name: "drops the default https port",
      url: "https://github.com:443/acme/shop",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "trims whitespace",
      url: "  https://github.com/acme/shop \n",
      normal: "https://github.com/acme/shop",
    },
    {
      name: "the SCP-like SSH form becomes ssh://",
      url: "git@GitHub.com:acme/shop.git",
      normal: "ssh://github.com/acme/shop",
    },
    {
      name: "ssh:// drops its user",
      url: "ssh://git@github.com/acme/shop.git",
      normal: "ssh://github.com/acme/shop",
    },
    {
      name: "ssh:// lowercases its host",
      url: "ssh://git@GitLab.Example.com:2222/g/p.git",
      normal: "ssh://gitlab.example.com:2222/g/p",
    },
    { name: "git:// is kept", url: "git://github.com/acme/shop.git", normal: "git://github.com/acme/shop" },
    { name: "file:// keeps the path", url: "file:///srv/git/shop.git", normal: "file:///srv/git/shop" },
    {
      name: "file:// resolves dot segments",
      url: "file:///srv/git/../repos/./shop/",
      normal: "file:///srv/repos/shop",
    },
    {
      name: "file://localhost is the same path",
      url: "file://localhost/srv/git/shop",
      normal: "file:///srv/git/shop",
    },
    {
      name: "an absolute path becomes a file:// URL",
      url: "/srv/git/shop.git",
      normal: "file:///srv/git/shop",
    },
    { name: "a string that is not a URL is returned trimmed", url: " not a url ", normal: "not a url" },
  ])("$name", ({ url, normal }) => {
    expect(normalizeRepoUrl(url)).toBe(normal);
  });

  it("the SCP-like and ssh:// spellings of one remote compare equal", () => {
    const urls = ["git@github.com:acme/shop.git", "ssh://git@github.com/acme/shop"].map(normalizeRepoUrl);
    expect(urls[0]).toBe(urls[1]);
  });
});

describe("deliveryPayload", () => {
  const json = '{"zen":"Design for failure.","hook_id":1}';
  const form = new URLSearchParams({ payload: json }).toString();
  it.each([
    { name: "JSON", type: "application/json", body: json },
    { name: "JSON with a charset", type: "application/json; charset=utf-8", body: json },
    { name: "no content type (read as JSON)", type: null, body: json },
    {
      name: "JSON labelled as text (fetch's default for a string)",
      type: "text/plain;charset=UTF-8",
      body: json,
    },
    { name: "JSON labelled as a form (curl -d)", type: "application/x-www-form-urlencoded", body: json },
    { name: "GitHub's form encoding", type: "application/x-www-form-urlencoded", body: form },
    {
      name: "a form with spaces as + and other fields",
      type: "Application/X-WWW-Form-Urlencoded",
      body: `other=1&payload=${encodeURIComponent(json).replace(/%20/g, "+")}`,
    },
  ])("reads $name", ({ type, body }) => {
    expect(deliveryPayload(type, encoder.encode(body))).toEqual({ zen: "Design for failure.", hook_id: 1 });
  });

  it.each([
    {
      name: "a form without a payload field",
      type: "application/x-www-form-urlencoded",
      body: "data=1",
      message: /payload field; there is none/,
    },
    {
      name: "a form whose payload is not JSON",
      type: "application/x-www-form-urlencoded",
      body: "payload=%7B",
      message: /body: not valid JSON/,
    },
    { name: "an empty body", type: "application/json", body: "", message: /body: empty/ },
    {
      name: "a body of another type that is not JSON",
      type: "application/xml",
      body: "<push/>",
      message: /body: not valid JSON \(Content-Type application\/xml\): /,
    },
    { name: "broken JSON", type: "application/json", body: "{", message: /body: not valid JSON/ },
  ])("refuses $name", ({ type, body, message }) => {
    expect(() => deliveryPayload(type, encoder.encode(body))).toThrow(WebhookPayloadError);
    expect(() => deliveryPayload(type, encoder.encode(body))).toThrow(message);
  });

  it("refuses bytes that are not UTF-8", () => {
    expect(() => deliveryPayload("application/json", new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(
      /not UTF-8/,
    );
  });
});

describe("deliveryIdOf", () => {
  const uuid = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
  it.each([
    {
      name: "GitHub's X-GitHub-Delivery",
      provider: "github" as const,
      headers: { "X-GitHub-Delivery": uuid },
      id: uuid,
    },
    { name: "no GitHub delivery header", provider: "github" as const, headers: {}, id: null },
    {
      name: "GitLab's Idempotency-Key before its X-Gitlab-Event-UUID",
      provider: "gitlab" as const,
      headers: { "Idempotency-Key": uuid, "X-Gitlab-Event-UUID": "other" },
      id: uuid,
    },
    {
      name: "GitLab's X-Gitlab-Event-UUID alone",
      provider: "gitlab" as const,
      headers: { "X-Gitlab-Event-UUID": uuid },
      id: uuid,
    },
    {
      name: "a blank GitLab key",
      provider: "gitlab" as const,
      headers: { "Idempotency-Key": " ", "X-Gitlab-Event-UUID": uuid },
      id: uuid,
    },
    {
      name: "a GitLab delivery without either",
      provider: "gitlab" as const,
      headers: { "X-Gitlab-Webhook-UUID": uuid },
      id: null,
    },
  ])("finds $name", ({ provider, headers, id }) => {
    expect(deliveryIdOf(provider, new Headers(headers as Record<string, string>))).toBe(id);
  });

  it("refuses an id longer than 200 characters", () => {
    expect(() => deliveryIdOf("github", new Headers({ "X-GitHub-Delivery": "x".repeat(201) }))).toThrow(
      /X-GitHub-Delivery: longer than 200 characters/,
    );
  });
});
