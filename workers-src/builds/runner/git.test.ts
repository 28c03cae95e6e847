import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloneError, cloneRepo, credentialsAsHeader, redactUrl, repoUrlProblem, urlCredentials } from "./git";
import { runCollect, startProcess } from "./process";
import { createTestRepo, type TestRepo, tempDir } from "./testing";

describe("credentialsAsHeader", () => {
  it.each([
    ["no credentials", "https://github.com/a/b.git", "https://github.com/a/b.git", {}],
    [
      "user and password",
      "https://x-access-token:ghs_abc@github.com/a/b.git",
      "https://github.com/a/b.git",
      {
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.https://github.com/.extraHeader",
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from("x-access-token:ghs_abc").toString("base64")}`,
      },
    ],
    [
      "a token as the user name, percent-encoded",
      "https://tok%40en@gitlab.example.com:8443/g/p.git",
      "https://gitlab.example.com:8443/g/p.git",
      {
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "http.https://gitlab.example.com:8443/.extraHeader",
        GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from("tok@en:").toString("base64")}`,
      },
    ],
    ["a local repository", "file:///srv/repo.git", "file:///srv/repo.git", {}],
  ])("%s", (_name, url, expectedUrl, env) => {
    expect(credentialsAsHeader(url)).toEqual({ url: expectedUrl, env });
  });
});

describe("repoUrlProblem", () => {
  const cases: { url: string; allowFile: boolean; allowed: boolean }[] = [
    { url: "https://github.com/acme/app.git", allowFile: false, allowed: true },
    { url: "https://x-access-token:abc@github.com/acme/app.git", allowFile: false, allowed: true },
    { url: "file:///srv/repos/app.git", allowFile: true, allowed: true },
    { url: "file:///srv/repos/app.git", allowFile: false, allowed: false },
    { url: "file://otherhost/srv/app.git", allowFile: true, allowed: false },
    { url: "http://github.com/acme/app.git", allowFile: true, allowed: false },
    { url: "HTTPS://github.com/acme/app.git", allowFile: false, allowed: false },
    { url: "https://", allowFile: false, allowed: false },
    { url: "ssh://git@github.com/acme/app.git", allowFile: true, allowed: false },
    { url: "git@github.com:acme/app.git", allowFile: true, allowed: false },
    { url: "git://github.com/acme/app.git", allowFile: true, allowed: false },
    { url: "ext::sh -c touch% /tmp/pwned", allowFile: true, allowed: false },
    { url: "ext::https://github.com/acme/app.git", allowFile: true, allowed: false },
    { url: "https::github.com/acme/app.git", allowFile: true, allowed: false },
    { url: "fd::3", allowFile: true, allowed: false },
    { url: "/srv/repos/app.git", allowFile: true, allowed: false },
    { url: "./app", allowFile: true, allowed: false },
    { url: "https://github.com/acme/app.git\n--upload-pack=touch", allowFile: false, allowed: false },
    { url: "https://github.com/acme/app .git", allowFile: false, allowed: false },
  ];
  it.each(cases)("$url (allowFileRepos: $allowFile) → allowed: $allowed", ({ url, allowFile, allowed }) => {
    expect(repoUrlProblem(url, allowFile) === undefined).toBe(allowed);
  });

  it("explains what is allowed", () => {
    expect(repoUrlProblem("git@github.com:a/b.git", false)).toMatch(
      /only https:\/\/ repository URLs are allowed/,
    );
    expect(repoUrlProblem("file:///x", false)).toMatch(/allowFileRepos/);
  });
});

describe("URL credentials", () => {
  it("are removed from logged URLs and become secrets", () => {
    expect(redactUrl("https://user:p%40ss@host/a.git")).toBe("https://host/a.git");
    expect(redactUrl("https://host/a.git")).toBe("https://host/a.git");
    expect(urlCredentials("https://user:p%40ss@host/a.git")).toEqual(["p%40ss", "p@ss"]);
    expect(urlCredentials("https://ghp_token@host/a.git")).toEqual(["ghp_token"]);
    expect(urlCredentials("https://host/a.git")).toEqual([]);
  });
});

describe("cloneRepo", () => {
  const work = tempDir("runner-git-");
  let repo: TestRepo;
  let first: string;
  let second: string;
  let counter = 0;

  beforeAll(() => {
    repo = createTestRepo(work.dir);
    first = repo.commit({ "version.txt": "one" });
    second = repo.commit({ "version.txt": "two" });
    repo.commit({ "version.txt": "feature" }, { branch: "feature/x" });
  });
  afterAll(() => work.remove());

  async function clone(
    commitHash: string | null,
    options: { branch?: string; url?: string; allowFile?: boolean } = {},
  ) {
    const dir = path.join(work.dir, `checkout-${counter++}`);
    mkdirSync(dir);
    const log: string[] = [];
    const sha = await cloneRepo({
      repoUrl: options.url ?? repo.url,
      commitHash,
      branch: options.branch ?? "main",
      dir,
      allowFileRepos: options.allowFile ?? true,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
      exec: (argv, cwd, env) => startProcess({ argv, cwd, env, onLine: (line) => log.push(line) }).done,
      collect: (argv, cwd, env) => runCollect(argv, { cwd, env }),
      log: (line) => log.push(line),
    });
    return { sha, log, read: (file: string) => readFileSync(path.join(dir, file), "utf8") };
  }

  it("checks out the head of the branch when no commit is given", async () => {
    const result = await clone(null);
    expect(result.sha).toBe(second);
    expect(result.read("version.txt")).toBe("two");
    expect(result.log).toContain(`Checked out commit ${second}`);
  });

  it("checks out an older commit by its full sha", async () => {
    const result = await clone(first);
    expect(result.sha).toBe(first);
    expect(result.read("version.txt")).toBe("one");
  });

  it("checks out a commit by an abbreviated sha", async () => {
    const result = await clone(first.slice(0, 8));
    expect(result.sha).toBe(first);
    expect(result.read("version.txt")).toBe("one");
  });

  it("checks out a branch whose name has a slash", async () => {
    const result = await clone(null, { branch: "feature/x" });
    expect(result.read("version.txt")).toBe("feature");
  });

  it("fails with a CloneError for a commit that is not in the repository", async () => {
    await expect(clone("0123456789abcdef0123456789abcdef01234567")).rejects.toThrow(CloneError);
  });

  it("fails with a CloneError for a repository that does not exist", async () => {
    await expect(clone(null, { url: `file://${work.dir}/missing.git` })).rejects.toThrow(
      /Fetching branch main failed/,
    );
  });

  it("refuses file:// repositories unless allowed, before running git", async () => {
    await expect(clone(null, { allowFile: false })).rejects.toThrow(/Refusing to clone: file:\/\//);
  });
});
