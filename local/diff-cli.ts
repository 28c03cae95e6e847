import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { PACKAGE_NAME } from "../components/package-root";
import { exitOnHelp, type Invocation, resolveProgram, resolveStackFile } from "./cli-args";
import { type DiffSide, diffGraphs, renderMarkdown } from "./diff";
import type { CapturedResource } from "./graph";
import { maskGraph } from "./mask";
import { projectEntry, stackFilePath } from "./stack-file";
import { captureStack, renderGraph } from "./synth";

const NPM: Invocation = { usage: "npm run diff --", name: "diff" };

/** Exit status of `--fail-on-risk` when the diff has risks. */
export const RISK_EXIT = 3;

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** The side of a diff made from a captured graph: rendered as synth prints it, plus the migrations' SQL. */
function sideOf(stack: string, captured: CapturedResource[]): DiffSide {
  const migrationSql = new Map<string, Map<string, string>>();
  for (const r of maskGraph(captured)) {
    const files = r.inputs.migrations;
    if (!Array.isArray(files)) continue;
    const byName = new Map<string, string>();
    for (const f of files as { name?: unknown; sql?: unknown }[]) {
      if (typeof f?.name === "string" && typeof f.sql === "string") byName.set(f.name, f.sql);
    }
    if (byName.size > 0) migrationSql.set(r.urn, byName);
  }
  return { graph: renderGraph(stack, captured), migrationSql };
}

/**
 * esbuild names each bundled file by its path from the folder of the package that bundles it (in comments,
 * and as the keys of CommonJS modules), after resolving links. Bundled at the base, a file of the program
 * or of the linked node_modules has another path than at the head: `../../<head>/node_modules/x` for
 * `node_modules/x` when the package is the project itself, `../../<tmp>/src/w.ts` for `../../src/w.ts`
 * when it is installed in the project. The base's bundles get the head's paths, so that a bundle changes
 * only when its code does.
 */
function withHeadPaths(resources: CapturedResource[], baseRoot: string, root: string): CapturedResource[] {
  const swaps: [string, string][] = [[`${path.relative(baseRoot, root)}/`, ""]];
  let installed: string | undefined;
  try {
    installed = realpathSync(
      path.dirname(require.resolve(`${PACKAGE_NAME}/package.json`, { paths: [root] })),
    );
  } catch {
    installed = undefined;
  }
  if (installed !== undefined && installed !== realpathSync(root)) {
    swaps.push([`${path.relative(installed, baseRoot)}/`, `${path.relative(installed, root)}/`]);
  }
  const rewrite = (text: string) => swaps.reduce((t, [from, to]) => t.split(from).join(to), text);
  return resources.map((r) =>
    typeof r.inputs.content === "string"
      ? { ...r, inputs: { ...r.inputs, content: rewrite(r.inputs.content) } }
      : r,
  );
}

/**
 * The program's graph at a git commit: the commit checked out in a temporary worktree (the user's tree
 * and index untouched), the project's `node_modules` linked into it, and the program evaluated there with
 * its own stack file. A commit without the project or the stack file has an empty graph.
 */
async function captureAtCommit(
  options: { root: string; entry: string; stack: string; program: boolean },
  commit: string,
): Promise<CapturedResource[]> {
  const top = git(options.root, "rev-parse", "--show-toplevel");
  const tree = mkdtempSync(path.join(tmpdir(), "wp-diff-base-"));
  git(top, "worktree", "add", "--detach", "--quiet", tree, commit);
  try {
    const relative = path.relative(top, options.root);
    const baseRoot = path.join(tree, relative);
    // The dependencies are the installed ones: node_modules is not versioned.
    for (const dir of new Set([options.root, top])) {
      const modules = path.join(dir, "node_modules");
      const linked = path.join(tree, path.relative(top, dir), "node_modules");
      if (existsSync(modules) && existsSync(path.dirname(linked)) && !existsSync(linked)) {
        symlinkSync(modules, linked, "dir");
      }
    }
    if (!existsSync(path.join(baseRoot, "Pulumi.yaml"))) return [];
    const configFile = stackFilePath(options.stack, baseRoot);
    if (!existsSync(configFile)) return [];
    const entry = options.program
      ? path.join(baseRoot, path.relative(options.root, options.entry))
      : projectEntry(baseRoot);
    if (!existsSync(entry)) return [];
    const captured = await captureStack({ stack: options.stack, configFile, entry });
    return withHeadPaths(captured, baseRoot, options.root);
  } finally {
    try {
      git(top, "worktree", "remove", "--force", tree);
    } catch {
      rmSync(tree, { recursive: true, force: true });
      git(top, "worktree", "prune");
    }
  }
}

/**
 * Compares the stack's resource graph at a base git ref with the working tree's, with no credentials:
 * JSON or markdown on stdout; exit 0, or 3 with `--fail-on-risk` when there are risks; 1 on error
 * (one line on stderr, nothing on stdout).
 */
export async function diffCommand(argv: string[], invocation: Invocation = NPM): Promise<number> {
  const usage = `usage: ${invocation.usage} --stack <name> --base <git-ref> [--format markdown|json] [--fail-on-risk] [--program <entry.ts>]`;
  exitOnHelp(usage, argv);
  let values: { stack?: string; base?: string; format?: string; "fail-on-risk"?: boolean; program?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: "string" },
        base: { type: "string" },
        format: { type: "string", default: "markdown" },
        "fail-on-risk": { type: "boolean" },
        program: { type: "string" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 1;
  }
  const problem = !values.stack
    ? "--stack is required"
    : !values.base
      ? "--base is required (the git ref to compare with, e.g. origin/main)"
      : values.format !== "markdown" && values.format !== "json"
        ? `--format must be markdown or json (got ${values.format})`
        : undefined;
  if (problem) {
    process.stderr.write(`${problem}\n${usage}\n`);
    return 1;
  }
  const stack = values.stack as string;
  const base = values.base as string;
  try {
    const { root, entry } = resolveProgram(values.program);
    const configFile = resolveStackFile(stack, undefined, root);
    let commit: string;
    try {
      git(root, "rev-parse", "--show-toplevel");
    } catch {
      throw new Error(`${root} is not in a git repository: diff compares with a git ref`);
    }
    try {
      commit = git(root, "rev-parse", "--verify", "--quiet", `${base}^{commit}`);
    } catch {
      throw new Error(`unknown git ref "${base}" (fetch it first, e.g. git fetch origin main)`);
    }
    const baseGraph = await captureAtCommit(
      { root, entry, stack, program: values.program !== undefined },
      commit,
    );
    const headGraph = await captureStack({ stack, configFile, entry });
    const diff = diffGraphs(
      sideOf(stack, baseGraph),
      sideOf(stack, headGraph),
      `${base} (${commit.slice(0, 12)})`,
    );
    process.stdout.write(
      values.format === "json" ? `${JSON.stringify(diff, null, 2)}\n` : renderMarkdown(diff),
    );
    return values["fail-on-risk"] && diff.risks.length > 0 ? RISK_EXIT : 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${invocation.name} failed: ${message}\n`);
    return 1;
  }
}

if (require.main === module) diffCommand(process.argv.slice(2)).then((code) => process.exit(code));
