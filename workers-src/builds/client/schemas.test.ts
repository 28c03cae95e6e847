import { describe, expect, it } from "vitest";
import { ValidationError } from "./envelope";
import {
  createBuildSchema,
  createDeployHookSchema,
  createTriggerSchema,
  createWorkerSchema,
  isValidBranchName,
  listBuildsQuerySchema,
  logsQuerySchema,
  updateTriggerSchema,
  workerRefSchema,
} from "./schemas";
import { parseInput } from "./validation";

const remote = createTriggerSchema({ allowFileRepos: false });
const local = createTriggerSchema({ allowFileRepos: true });
const update = updateTriggerSchema({ allowFileRepos: false });
const base = { repo_url: "https://github.com/acme/site", production_branch: "main" };

/** The messages parseInput would answer for `input`, or [] when it is valid. */
function messages(schema: Parameters<typeof parseInput>[0], input: unknown): string[] {
  try {
    parseInput(schema, input, "body");
    return [];
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return err.errors.map((e) => e.message);
  }
}

describe("POST /api/workers body", () => {
  it.each(["a", "my-worker", "w1", "a".repeat(63), "0-0"])("accepts name %s", (name) => {
    expect(messages(createWorkerSchema, { name })).toEqual([]);
  });

  it.each([
    ["", /^name: /],
    ["My-Worker", /^name: must be 1 to 63 lowercase/],
    ["-lead", /^name: /],
    ["trail-", /^name: /],
    ["a_b", /^name: /],
    ["a".repeat(64), /^name: /],
    ["0b9e0c5e-8f34-4c1e-9f7a-3d2b1a0c9e8f", /^name: must not have the form of a UUID/],
  ])("refuses name %j", (name, message) => {
    const found = messages(createWorkerSchema, { name });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it("refuses a missing name and unknown fields", () => {
    expect(messages(createWorkerSchema, {})[0]).toMatch(/^name: /);
    expect(messages(createWorkerSchema, { name: "a", extra: 1 })[0]).toMatch(/^body: .*extra/);
    expect(messages(createWorkerSchema, [])[0]).toMatch(/^body: /);
  });
});

describe("worker references", () => {
  it.each(["my-worker", "0B9E0C5E-8F34-4C1E-9F7A-3D2B1A0C9E8F"])("accepts %s", (worker) => {
    expect(messages(workerRefSchema, { worker })).toEqual([]);
  });
  it.each(["My Worker", "a/b", ""])("refuses %j", (worker) => {
    expect(messages(workerRefSchema, { worker })).toHaveLength(1);
  });
});

describe("branch names", () => {
  it.each(["main", "feature/x", "release-1.2", "user@x", "a.b/c_d"])("accepts %s", (name) => {
    expect(isValidBranchName(name)).toBe(true);
  });
  it.each([
    "",
    "-x",
    "/x",
    "x/",
    "x.",
    "a..b",
    "a//b",
    "a b",
    "a~b",
    "a^b",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\\b",
    "a@{b",
    "@",
    ".hidden",
    "x/.hidden",
    "x.lock",
    "a\u0001b",
    "x".repeat(256),
  ])("refuses %j", (name) => {
    expect(isValidBranchName(name)).toBe(false);
  });
});

describe("POST /api/workers/:worker/triggers body", () => {
  it("accepts the two required fields alone", () => {
    expect(messages(remote, base)).toEqual([]);
  });

  it("accepts every field, defaulting a variable's type to text and normalising the root directory", () => {
    const parsed = parseInput(
      remote,
      {
        ...base,
        provider: "gitlab",
        build_non_production_branches: true,
        build_command: "npm run build",
        deploy_command: "npx wrangler deploy",
        non_production_deploy_command: "npx wrangler versions upload",
        root_directory: "./apps/site/",
        path_includes: ["src/*"],
        path_excludes: ["docs/*"],
        build_caching_enabled: false,
        env_vars: [
          { name: "NODE_ENV", value: "production" },
          { name: "API_TOKEN", type: "secret", value: "s3cr3t" },
        ],
      },
      "body",
    );
    expect(parsed.root_directory).toBe("apps/site");
    expect(parsed.env_vars).toEqual([
      { name: "NODE_ENV", type: "text", value: "production" },
      { name: "API_TOKEN", type: "secret", value: "s3cr3t" },
    ]);
  });

  it("accepts a file:// repository only where file repositories are allowed", () => {
    const body = { ...base, repo_url: "file:///tmp/repos/site.git" };
    expect(messages(local, body)).toEqual([]);
    expect(messages(remote, body)).toEqual(["repo_url: must be an https:// URL"]);
  });

  const tooMany = Array.from({ length: 65 }, (_, i) => ({ name: `V${i}`, value: "x" }));
  it.each([
    ["no repo_url", { production_branch: "main" }, /^repo_url: /],
    ["no production_branch", { repo_url: base.repo_url }, /^production_branch: /],
    ["http://", { ...base, repo_url: "http://github.com/acme/site" }, /^repo_url: must be an https:\/\/ URL/],
    ["ssh", { ...base, repo_url: "git@github.com:acme/site.git" }, /^repo_url: /],
    [
      "credentials",
      { ...base, repo_url: "https://user:pw@github.com/a/b" },
      /^repo_url: must not carry credentials/,
    ],
    ["a query", { ...base, repo_url: "https://github.com/a/b?x=1" }, /^repo_url: must not have a query/],
    ["no repository path", { ...base, repo_url: "https://github.com/" }, /^repo_url: must name a repository/],
    [
      "a bad branch",
      { ...base, production_branch: "a..b" },
      /^production_branch: must be a valid git branch/,
    ],
    ["an unknown field", { ...base, branch: "main" }, /^body: .*branch/],
    ["an unknown provider", { ...base, provider: "bitbucket" }, /^provider: /],
    ["a non-boolean", { ...base, build_caching_enabled: "yes" }, /^build_caching_enabled: /],
    ["an empty command", { ...base, deploy_command: "" }, /^deploy_command: /],
    ["an absolute root", { ...base, root_directory: "/etc" }, /^root_directory: must be a path relative/],
    ["a root leaving the repo", { ...base, root_directory: "a/../../b" }, /^root_directory: must not leave/],
    [
      "an empty watch path",
      { ...base, path_includes: ["src/*", " "] },
      /^path_includes\[1\]: must not be empty/,
    ],
    ["a bad variable name", { ...base, env_vars: [{ name: "1X", value: "v" }] }, /^env_vars\[0\]\.name: /],
    [
      "a reserved variable",
      { ...base, env_vars: [{ name: "WORKERS_CI_BRANCH", value: "v" }] },
      /is set by the platform/,
    ],
    ["a variable without value", { ...base, env_vars: [{ name: "X" }] }, /^env_vars\[0\]\.value: /],
    [
      "a secret without value",
      { ...base, env_vars: [{ name: "X", type: "secret" }] },
      /^env_vars\[0\]\.value: /,
    ],
    [
      "an unknown type",
      { ...base, env_vars: [{ name: "X", type: "json", value: "v" }] },
      /^env_vars\[0\]\.type: /,
    ],
    [
      "a duplicate name",
      {
        ...base,
        env_vars: [
          { name: "X", value: "1" },
          { name: "X", type: "secret", value: "2" },
        ],
      },
      /^env_vars\[1\]\.name: X is given twice/,
    ],
    [
      "a value over 5 KB",
      { ...base, env_vars: [{ name: "X", value: "é".repeat(2561) }] },
      /at most 5120 bytes/,
    ],
    ["65 variables", { ...base, env_vars: tooMany }, /^env_vars: at most 64 variables/],
  ])("refuses %s", (_, body, message) => {
    const found = messages(remote, body);
    expect(found.length).toBeGreaterThan(0);
    expect(
      found.some((m) => (message as RegExp).test(m)),
      found.join("\n"),
    ).toBe(true);
  });

  it("takes a value of exactly 5 KB and 64 variables", () => {
    expect(messages(remote, { ...base, env_vars: [{ name: "X", value: "x".repeat(5120) }] })).toEqual([]);
    expect(messages(remote, { ...base, env_vars: tooMany.slice(0, 64) })).toEqual([]);
  });

  it("lists every issue of a body, each with its path", () => {
    expect(messages(remote, { repo_url: "ftp://x", production_branch: "" })).toEqual([
      "repo_url: must be an https:// URL",
      "production_branch: must be a valid git branch name",
    ]);
  });
});

describe("PATCH /api/triggers/:trigger body", () => {
  it.each([
    ["an empty body", {}],
    ["one field", { build_command: null }],
    ["a secret kept without its value", { env_vars: [{ name: "TOKEN", type: "secret" }] }],
    ["a secret kept with null", { env_vars: [{ name: "TOKEN", type: "secret", value: null }] }],
    ["a new secret value", { env_vars: [{ name: "TOKEN", type: "secret", value: "new" }] }],
  ])("accepts %s", (_, body) => {
    expect(messages(update, body)).toEqual([]);
  });

  it.each([
    [
      "a text variable without value",
      { env_vars: [{ name: "X" }] },
      "env_vars[0].value: is required for a text variable",
    ],
    [
      "a text variable with null",
      { env_vars: [{ name: "X", type: "text", value: null }] },
      "env_vars[0].value: is required for a text variable",
    ],
    ["a null branch", { production_branch: null }, "production_branch"],
    ["an unknown field", { id: "x" }, "body"],
  ])("refuses %s", (_, body, path) => {
    const found = messages(update, body);
    expect(found).toHaveLength(1);
    expect(found[0]!.startsWith(path)).toBe(true);
  });
});

describe("POST /api/triggers/:trigger/builds body", () => {
  it.each([{}, { branch: "dev" }, { commit_hash: "abc1234" }])("accepts %j", (body) => {
    expect(messages(createBuildSchema, body)).toEqual([]);
  });

  it("lower-cases a commit hash", () => {
    expect(parseInput(createBuildSchema, { commit_hash: "ABC1234" }, "body")).toEqual({
      commit_hash: "abc1234",
    });
  });

  it.each([
    [{ branch: "dev", commit_hash: "abc1234" }, "body: give branch or commit_hash, not both"],
    [{ commit_hash: "abc12" }, "commit_hash: must be 7 to 64 hexadecimal digits"],
    [{ commit_hash: "xyz1234" }, "commit_hash: must be 7 to 64 hexadecimal digits"],
    [{ branch: "a b" }, "branch: must be a valid git branch name"],
    [{ ref: "main" }, 'body: Unrecognized key: "ref"'],
  ])("refuses %j", (body, message) => {
    expect(messages(createBuildSchema, body)).toEqual([message]);
  });
});

describe("deploy hook body", () => {
  it("accepts a name and an optional branch", () => {
    expect(messages(createDeployHookSchema, { name: "CMS" })).toEqual([]);
    expect(messages(createDeployHookSchema, { name: "CMS", branch: "staging" })).toEqual([]);
  });
  it.each([{}, { name: "  " }, { name: "x".repeat(101) }, { name: "a", branch: "" }])(
    "refuses %j",
    (body) => {
      expect(messages(createDeployHookSchema, body)).toHaveLength(1);
    },
  );
});

describe("query strings", () => {
  it("reads per_page, cursor and status of the builds list", () => {
    expect(parseInput(listBuildsQuerySchema, { per_page: "5", status: "queued" }, "query")).toEqual({
      per_page: 5,
      status: "queued",
    });
  });

  it.each([
    [{ per_page: "0" }, /^per_page: /],
    [{ per_page: "101" }, /^per_page: /],
    [{ per_page: "2.5" }, /^per_page: /],
    [{ per_page: "x" }, /^per_page: /],
    [{ status: "done" }, /^status: /],
    [{ page: "2" }, /^query: .*page/],
  ])("refuses %j", (q, message) => {
    const found = messages(listBuildsQuerySchema, q);
    expect(found).toHaveLength(1);
    expect(found[0]!.replace(/^body/, "query")).toMatch(message);
  });

  it("takes log cursors as returned and limits of 1 to 1000", () => {
    expect(messages(logsQuerySchema, { cursor: "42", limit: "1000" })).toEqual([]);
    expect(messages(logsQuerySchema, { cursor: "x" })).toHaveLength(1);
    expect(messages(logsQuerySchema, { limit: "1001" })).toHaveLength(1);
  });
});
