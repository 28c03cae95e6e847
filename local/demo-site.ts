/**
 * The demo's project: a real git repository (a bare "remote" and a work tree) holding a small Worker
 * project (`local/demo-hello-worker`: wrangler config, `package.json` with wrangler, lockfile), and the
 * GitHub push delivery and signature that announce a push of it.
 */
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";

/** The branch the demo pushes and its trigger watches. */
export const BRANCH = "main";

/** A push delivery as GitHub sends it, with the fields the platform reads. */
export function githubPushDelivery(push: {
  repoUrl: string;
  branch: string;
  before: string;
  sha: string;
  message: string;
  files: string[];
}): string {
  const commit = { id: push.sha, message: push.message, added: push.files, modified: [], removed: [] };
  return JSON.stringify({
    ref: `refs/heads/${push.branch}`,
    before: push.before,
    after: push.sha,
    repository: { clone_url: push.repoUrl, html_url: push.repoUrl },
    commits: [commit],
    head_commit: commit,
  });
}

/** `X-Hub-Signature-256` of a delivery body, as GitHub computes it with the webhook's secret. */
export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** The demo's Worker project: wrangler config, `package.json` with wrangler, its lockfile, the Worker. */
export const DEMO_WORKER_DIR = path.join(__dirname, "demo-hello-worker");
/** The script name in the project's wrangler config: what its builds deploy. */
export const DEMO_SCRIPT = "hello-worker";
const DEMO_WORKER_FILES = ["package.json", "package-lock.json", "wrangler.jsonc", "src/index.js"];

/** The project's files (path → content), as the demo pushes them. */
export function siteFiles(): Record<string, string> {
  const files: Record<string, string> = {
    "README.md":
      "# hello-worker\n\nA small Worker, built and deployed by the builds platform demo (`npm run demo`).\n",
    ".gitignore": "node_modules/\n.wrangler/\n",
  };
  for (const file of DEMO_WORKER_FILES) files[file] = readFileSync(path.join(DEMO_WORKER_DIR, file), "utf8");
  return files;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    "git",
    [
      "-c",
      "user.name=Builds Demo",
      "-c",
      "user.email=demo@builds.invalid",
      "-c",
      "commit.gpgsign=false",
      ...args,
    ],
    { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  ).trim();
}

/** A bare repository (the "remote" the trigger watches) and a work tree holding the project, not yet pushed. */
export function createSiteRepo(dir: string): {
  url: string;
  /** Writes files (path → content) into the work tree. */
  write(files: Record<string, string>): void;
  /** Commits everything and pushes it to `branch` (created from the current commit when new). */
  push(message: string, branch?: string): { before: string; sha: string };
} {
  rmSync(dir, { recursive: true, force: true });
  const bare = path.join(dir, "origin.git");
  const work = path.join(dir, "work");
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "--bare", "-b", BRANCH, bare);
  git(dir, "clone", "-q", bare, work);
  git(work, "checkout", "-q", "-B", BRANCH);
  const write = (files: Record<string, string>) => {
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
      writeFileSync(path.join(work, file), content);
    }
  };
  write(siteFiles());
  return {
    url: `file://${bare}`,
    write,
    push(message, branch = BRANCH) {
      // A new branch starts from what is pushed: GitHub sends all zeros as `before` for it.
      const known = git(bare, "for-each-ref", "--format=%(refname)", `refs/heads/${branch}`) !== "";
      const before = known ? git(bare, "rev-parse", `refs/heads/${branch}`) : "0".repeat(40);
      git(work, "add", "-A");
      git(work, "commit", "-q", "-m", message);
      git(work, "push", "-q", "origin", `HEAD:refs/heads/${branch}`);
      return { before, sha: git(work, "rev-parse", "HEAD") };
    },
  };
}
