// `npm run diff` on a scratch copy of this repository: each change a reviewer must not miss, made in the
// working tree and compared with the copy's first commit; the user's tree here is never touched.
import { spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { git, scratchRepository } from "../test/diff-repo";
import type { GraphDiff } from "./diff";

let repo: string;
let base: string;

beforeAll(() => {
  ({ dir: repo, base } = scratchRepository());
}, 60_000);

afterAll(() => rmSync(repo, { recursive: true, force: true }));

afterEach(() => {
  git(repo, "reset", "--quiet", "--hard", base);
  git(repo, "clean", "--quiet", "-fd");
});

function diff(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return diffWith(process.env, ...args);
}

function diffWith(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ["-r", "./local/register.cjs", "local/diff-cli.ts", ...args], {
    cwd: repo,
    encoding: "utf8",
    env,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Commits the working tree's changes, as the change a pull request brings, and diffs it with its parent. */
function json(stack: string): { status: number | null; diff: GraphDiff } {
  git(repo, "commit", "--quiet", "--all", "--allow-empty", "-m", "change");
  const res = diff("--stack", stack, "--base", "HEAD~1", "--format", "json", "--fail-on-risk");
  expect(res.stderr).toBe("");
  return { status: res.status, diff: JSON.parse(res.stdout) as GraphDiff };
}

/** Replaces `from` by `to` in a file of the scratch repository, failing when `from` is not there. */
function edit(file: string, from: string, to: string): void {
  const full = path.join(repo, file);
  const text = readFileSync(full, "utf8");
  if (!text.includes(from)) throw new Error(`${file} has no ${from}`);
  writeFileSync(full, text.replace(from, to));
}

const short = (urn: string) => urn.slice(urn.lastIndexOf("$") + 1);
const rulesOf = (d: GraphDiff) => d.risks.map((r) => `${r.rule} ${short(r.urn)}`).sort();

// Each diff evaluates the program twice and bundles its Workers: minutes, not seconds, on a loaded machine.
describe("npm run diff on a scratch copy of this repository", { timeout: 120_000 }, () => {
  it("shows no changes for an unchanged tree and exits 0, even with --fail-on-risk", () => {
    const { status, diff: d } = json("prod");
    expect(status).toBe(0);
    expect(d).toEqual({
      stack: "prod",
      base: `HEAD~1 (${base.slice(0, 12)})`,
      added: [],
      removed: [],
      replaced: [],
      changed: [],
      risks: [],
    });
  });

  // One commit with three changes a reviewer must not miss (each diff evaluates the program twice, so
  // they share one): prod's protect turned off, the build cache bucket renamed, and a Durable Object
  // migration step that deletes a class.
  it("flags dropped protection, a renamed bucket and a deleted Durable Object class; exit 3 with --fail-on-risk", () => {
    edit("stacks/Pulumi.prod.yaml", "workers-platform:protect: true", "workers-platform:protect: false");
    edit("components/builds-platform.ts", "-build-cache`,", "-artifact-cache`,");
    edit(
      "components/builds-platform.ts",
      '          BUILD_CONTAINER: { className: "BuildContainer" },\n',
      "",
    );
    edit(
      "components/builds-platform.ts",
      '{ tag: "v3", newClasses: ["BuildCapacity"] },',
      '{ tag: "v3", newClasses: ["BuildCapacity"] },\n  { tag: "v4", deletedClasses: ["BuildContainer"], allowDataLoss: true },',
    );
    const { status, diff: d } = json("prod");
    expect(status).toBe(3);
    const kept = [
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::demo-kv",
      "postgresql:index/database:Database::builds-postgres-database",
      "postgresql:index/schema:Schema::builds-postgres-schema",
    ];
    const bucket = "cloudflare:index/r2Bucket:R2Bucket::builds-artifact-cache";
    expect(rulesOf(d)).toEqual(
      [
        ...[...kept, bucket].flatMap((r) => [`protect-dropped ${r}`, `retain-on-delete-dropped ${r}`]),
        `stateful-replaced ${bucket}`,
        "durable-object-class-deleted cloudflare:index/workersScript:WorkersScript::builds-management",
      ].sort(),
    );
    expect(d.risks.find((r) => r.rule === "durable-object-class-deleted")?.message).toBe(
      "cloudflare:index/workersScript:WorkersScript::builds-management: a new Durable Object migration deletes class BuildContainer: every object's data goes with it",
    );
    // The bucket and its lifecycle are replaced; the component around them, which holds nothing, is
    // listed as removed and added.
    expect(d.replaced.map((r) => [short(r.urn), r.because])).toEqual([
      [bucket, ["urn", "inputs.name"]],
      [
        "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle::builds-artifact-cache-lifecycle",
        ["urn", "inputs.bucketName"],
      ],
    ]);
    expect(d.removed.map(short)).toEqual(["workers-platform:cloudflare:R2Bucket::builds-build-cache"]);
    expect(d.added.map(short)).toEqual(["workers-platform:cloudflare:R2Bucket::builds-artifact-cache"]);
    expect(d.changed.filter((c) => kept.includes(short(c.urn))).map((c) => [short(c.urn), c.paths])).toEqual(
      kept
        .map((r) => [r, ["protect", "retainOnDelete"]])
        .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)),
    );
    // Without --fail-on-risk the same diff exits 0, and the markdown puts the risks first.
    const markdown = diff("--stack", "prod", "--base", "HEAD~1");
    expect(markdown.status).toBe(0);
    expect(markdown.stdout).toMatch(
      /^### Stack `prod`: 10 risks, 2 replaced, 1 added, 1 removed, \d+ changed\n\nCompared with `HEAD~1 \([0-9a-f]{12}\)`\.\n\n\*\*Risks\*\*/,
    );
  });

  it("shows a change of a Worker's source as a change of its bundle only", () => {
    edit("workers-src/builds/client/app.ts", "`no route for ", "`no such route: ");
    const { status, diff: d } = json("prod");
    expect(status).toBe(0);
    expect(d.risks).toEqual([]);
    expect(d.added).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(d.replaced).toEqual([]);
    expect(d.changed).toEqual([
      {
        urn: expect.stringMatching(/WorkersScript::builds-client$/),
        paths: ["inputs.content"],
        // "no route for" became "no such route:", two characters longer.
        bundle: { before: expect.any(Object), after: expect.any(Object), delta: 2 },
      },
    ]);
  });

  it("refuses an unknown ref, a missing --base and an unknown stack: one line, exit 1, nothing on stdout", () => {
    const cases: [string[], RegExp][] = [
      [["--stack", "prod", "--base", "no-such-ref"], /^diff failed: unknown git ref "no-such-ref"/],
      [["--stack", "nowhere", "--base", base], /^diff failed: no config for stack "nowhere"/],
    ];
    for (const [args, message] of cases) {
      const res = diff(...args);
      expect({ status: res.status, stdout: res.stdout }).toEqual({ status: 1, stdout: "" });
      expect(res.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(res.stderr).toMatch(message);
    }
    const missing = diff("--stack", "prod");
    expect({ status: missing.status, stdout: missing.stdout }).toEqual({ status: 1, stdout: "" });
    expect(missing.stderr).toMatch(/^--base is required/);
    // No worktree is left registered in the repository.
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1);
  });
  it("diffs a stack the base does not have: a note on stderr, every resource added", () => {
    copyFileSync(
      path.join(repo, "stacks", "Pulumi.dev.yaml"),
      path.join(repo, "stacks", "Pulumi.extra.yaml"),
    );
    git(repo, "add", "stacks/Pulumi.extra.yaml");
    const res = (() => {
      git(repo, "commit", "--quiet", "-m", "a new stack");
      return diff("--stack", "extra", "--base", "HEAD~1", "--format", "json");
    })();
    expect(res.status).toBe(0);
    expect(res.stderr).toBe(
      "note: HEAD~1 has no stack file stacks/Pulumi.extra.yaml: every resource shows as added\n",
    );
    const d = JSON.parse(res.stdout) as GraphDiff;
    expect(d.added.length).toBeGreaterThan(10);
    expect([d.removed, d.replaced, d.changed, d.risks]).toEqual([[], [], [], []]);
  });

  it("names the base when its program fails, and leaves no worktree behind", () => {
    edit("stacks/Pulumi.prod.yaml", "workers-platform:protect: true", "workers-platform:protect: perhaps");
    git(repo, "commit", "--quiet", "--all", "-m", "broken");
    git(repo, "revert", "--no-edit", "--quiet", "HEAD");
    const res = diff("--stack", "prod", "--base", "HEAD~1");
    expect({ status: res.status, stdout: res.stdout }).toEqual({ status: 1, stdout: "" });
    expect(res.stderr).toMatch(/^diff failed: at HEAD~1: /);
    expect(git(repo, "worktree", "list").split("\n")).toHaveLength(1);
  });

  it("leaves the user's staged changes alone when a git hook's GIT_INDEX_FILE is set", () => {
    edit("README.md", "# workers-platform", "# workers-platform (staged)");
    git(repo, "add", "README.md");
    const res = diffWith(
      { ...process.env, GIT_INDEX_FILE: path.join(repo, ".git", "index") },
      "--stack",
      "dev",
      "--base",
      base,
    );
    expect(res.status).toBe(0);
    expect(git(repo, "status", "--porcelain", "README.md")).toBe("M  README.md");
  });
});
