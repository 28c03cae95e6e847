/**
 * The demo's sample site: a real git repository (a bare "remote" and a work tree) holding a tiny static
 * site and its build script, and the GitHub push delivery and signature that announce a push of it.
 */
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
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

export const SITE_FILES: Record<string, string> = {
  "README.md": "# demo-site\n\nA tiny static site, built by the builds platform demo (`npm run demo`).\n",
  "src/index.html": `<!doctype html>
<html>
  <head><meta charset="utf-8"><title>{{title}}</title></head>
  <body><h1>{{title}}</h1><p>Built from commit {{commit}}.</p></body>
</html>
`,
  "build.sh": `#!/bin/sh
# The site's build: what \`npm run build\` would be in a real project.
set -e
echo "building \\"$SITE_TITLE\\" from commit $(echo "$WORKERS_CI_COMMIT_SHA" | cut -c1-7) on $WORKERS_CI_BRANCH"
echo "API key from the build variables: $DEMO_API_KEY"
for step in "checking sources" "rendering pages" "writing assets"; do
  echo "  $step..."
  sleep 0.3
done
mkdir -p dist
sed -e "s|{{title}}|$SITE_TITLE|g" -e "s|{{commit}}|$WORKERS_CI_COMMIT_SHA|g" src/index.html > dist/index.html
echo "wrote dist/index.html ($(wc -c < dist/index.html | tr -d ' ') bytes)"
`,
};

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

/** A bare repository (the "remote" the trigger watches) and a work tree holding the site, not yet pushed. */
export function createSiteRepo(dir: string): {
  url: string;
  push(message: string): { before: string; sha: string };
} {
  rmSync(dir, { recursive: true, force: true });
  const bare = path.join(dir, "origin.git");
  const work = path.join(dir, "work");
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "--bare", "-b", BRANCH, bare);
  git(dir, "clone", "-q", bare, work);
  git(work, "checkout", "-q", "-B", BRANCH);
  for (const [file, content] of Object.entries(SITE_FILES)) {
    mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    writeFileSync(path.join(work, file), content);
  }
  return {
    url: `file://${bare}`,
    push(message) {
      const before =
        git(work, "rev-list", "--all", "--count") === "0" ? "0".repeat(40) : git(work, "rev-parse", "HEAD");
      git(work, "add", "-A");
      git(work, "commit", "-q", "-m", message);
      git(work, "push", "-q", "origin", `HEAD:refs/heads/${BRANCH}`);
      return { before, sha: git(work, "rev-parse", "HEAD") };
    },
  };
}
