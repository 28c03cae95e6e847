import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../local/stack-file";

/** Runs git in `cwd` with a fixed identity; its output, trimmed. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.net", ...args], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  }).trim();
}

/**
 * A scratch git repository holding this repository's files as they are in the working tree (tracked and
 * new, not ignored), committed once, with this repository's node_modules linked: a clone of the current
 * state whose edits and commits touch nothing here. Returns its folder and its first commit.
 */
export function scratchRepository(prefix = "wp-diff-repo-"): { dir: string; base: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard", "-z"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean);
  for (const file of files) {
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      copyFileSync(path.join(REPO_ROOT, file), target);
    } catch {
      // a tracked file deleted in the working tree
    }
  }
  symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  git(dir, "init", "--quiet", "--initial-branch=main");
  git(dir, "add", "--all");
  git(dir, "commit", "--quiet", "-m", "base");
  return { dir, base: git(dir, "rev-parse", "HEAD") };
}
