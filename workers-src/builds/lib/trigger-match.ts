/**
 * Whether a push builds for a trigger, by the rules Workers Builds documents: the branch decides
 * production or not, `[skip ci]` in the head commit skips, and watch paths filter by changed files.
 */

export interface TriggerRules {
  productionBranch: string;
  /** Build pushes to branches other than the production branch (as non-production builds). */
  buildNonProductionBranches: boolean;
  /** Watch path patterns; a push builds when a changed file matches one. Empty means `["*"]`. */
  pathIncludes: string[];
  /** Watch path patterns applied first: a changed file that matches one is ignored. */
  pathExcludes: string[];
}

export interface PushFacts {
  branch: string;
  changedFiles: string[];
  commitCount: number;
  headCommitMessage: string;
}

export type MatchResult =
  | { build: true; production: boolean; reason: string }
  | { build: false; reason: string };

/** Pushes this large always build: the provider's file lists are not trusted to be complete. */
export const ALWAYS_BUILD_MIN_FILES = 3000;
/** Pushes with this many commits always build, for the same reason. */
export const ALWAYS_BUILD_MIN_COMMITS = 20;

const SKIP_DIRECTIVE = /\[(?:skip ci|ci skip)\]/i;

/** True when the message carries `[skip ci]` or `[ci skip]`, in any case, anywhere. */
export function hasSkipDirective(message: string): boolean {
  return SKIP_DIRECTIVE.test(message);
}

/**
 * The regular expression for one watch path pattern. `*` matches any characters, `/` included, so
 * `src/*` matches `src/a/b.ts`; everything else is literal. A pattern without `*` matches the exact path
 * or anything under it as a directory (`docs` matches `docs/x.md`, not `docs-old/x.md`). A leading `./`
 * or `/` is ignored: changed files are always relative to the repository root.
 */
export function globToRegExp(pattern: string): RegExp {
  const trimmed = pattern.trim().replace(/^(?:\.\/|\/)+/, "");
  if (trimmed === "") {
    throw new Error(`watch path pattern ${JSON.stringify(pattern)} is empty; use "*" to match every file`);
  }
  if (!trimmed.includes("*")) {
    return new RegExp(`^${escapeRegExp(trimmed.replace(/\/+$/, ""))}(?:/.*)?$`, "s");
  }
  return new RegExp(`^${trimmed.split("*").map(escapeRegExp).join(".*")}$`, "s");
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Decides whether `push` builds for a trigger with `rules`, and says why in words a user can act on. */
export function matchPush(rules: TriggerRules, push: PushFacts): MatchResult {
  const production = push.branch === rules.productionBranch;
  if (!production && !rules.buildNonProductionBranches) {
    return {
      build: false,
      reason: `branch ${push.branch} is not the production branch and non-production builds are off`,
    };
  }
  if (hasSkipDirective(push.headCommitMessage)) {
    return { build: false, reason: "the head commit message asks to skip CI ([skip ci] or [ci skip])" };
  }

  const branchReason = production
    ? `branch ${push.branch} is the production branch`
    : `branch ${push.branch} is a non-production branch and non-production builds are on`;
  const build = (why: string): MatchResult => ({
    build: true,
    production,
    reason: `${branchReason}; ${why}`,
  });

  const files = push.changedFiles;
  if (files.length === 0) {
    return build("the push lists no changed files, so watch paths are not applied");
  }
  if (files.length >= ALWAYS_BUILD_MIN_FILES) {
    return build(
      `the push changes ${files.length} files (${ALWAYS_BUILD_MIN_FILES}+), so watch paths are not applied`,
    );
  }
  if (push.commitCount >= ALWAYS_BUILD_MIN_COMMITS) {
    return build(
      `the push has ${push.commitCount} commits (${ALWAYS_BUILD_MIN_COMMITS}+), so watch paths are not applied`,
    );
  }

  const excludes = rules.pathExcludes.map((p) => ({ pattern: p, re: globToRegExp(p) }));
  const includes = (rules.pathIncludes.length > 0 ? rules.pathIncludes : ["*"]).map((p) => ({
    pattern: p,
    re: globToRegExp(p),
  }));
  const remaining = files.filter((f) => !excludes.some((e) => e.re.test(f)));
  if (remaining.length === 0) {
    const reason =
      files.length === 1
        ? "the only changed file is excluded by path_excludes"
        : `all ${files.length} changed files are excluded by path_excludes`;
    return { build: false, reason };
  }
  for (const file of remaining) {
    const hit = includes.find((i) => i.re.test(file));
    if (hit) return build(`${file} matches path_includes pattern ${JSON.stringify(hit.pattern)}`);
  }
  const which = remaining.length < files.length ? " left after path_excludes" : "";
  const reason =
    remaining.length === 1
      ? `the changed file${which} does not match path_includes`
      : `none of the ${remaining.length} changed files${which} match path_includes`;
  return { build: false, reason };
}
