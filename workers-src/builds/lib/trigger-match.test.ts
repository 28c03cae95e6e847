import { describe, expect, it } from "vitest";
import {
  globToRegExp,
  hasSkipDirective,
  type MatchResult,
  matchPush,
  type PushFacts,
  type TriggerRules,
} from "./trigger-match";

const rules = (over: Partial<TriggerRules> = {}): TriggerRules => ({
  productionBranch: "main",
  buildNonProductionBranches: false,
  pathIncludes: [],
  pathExcludes: [],
  ...over,
});

const push = (over: Partial<PushFacts> = {}): PushFacts => ({
  branch: "main",
  changedFiles: ["src/index.ts"],
  commitCount: 1,
  headCommitMessage: "fix: handle empty body",
  ...over,
});

const manyFiles = (n: number): string[] => Array.from({ length: n }, (_, i) => `docs/page-${i}.md`);

interface Case {
  name: string;
  rules: TriggerRules;
  push: PushFacts;
  expected: Partial<MatchResult> & { build: boolean };
  reason?: RegExp;
}

const cases: Case[] = [
  {
    name: "a push to the production branch is a production build",
    rules: rules(),
    push: push(),
    expected: { build: true, production: true },
    reason: /branch main is the production branch/,
  },
  {
    name: "a push to another branch does not build when non-production builds are off",
    rules: rules(),
    push: push({ branch: "feature/x" }),
    expected: {
      build: false,
      reason: "branch feature/x is not the production branch and non-production builds are off",
    },
  },
  {
    name: "a push to another branch is a non-production build when non-production builds are on",
    rules: rules({ buildNonProductionBranches: true }),
    push: push({ branch: "feature/x" }),
    expected: { build: true, production: false },
    reason: /feature\/x is a non-production branch/,
  },
  {
    name: "branch names are compared exactly, not by prefix or case",
    rules: rules(),
    push: push({ branch: "Main" }),
    expected: { build: false },
  },
  {
    name: "[skip ci] in the head commit message skips a production push",
    rules: rules(),
    push: push({ headCommitMessage: "docs: typo [skip ci]" }),
    expected: { build: false },
    reason: /skip CI/,
  },
  {
    name: "[ci skip] in the body of the head commit message skips, in any case",
    rules: rules({ buildNonProductionBranches: true }),
    push: push({ branch: "dev", headCommitMessage: "chore: bump deps\n\n[CI Skip]" }),
    expected: { build: false },
    reason: /skip CI/,
  },
  {
    name: "the branch rule is reported before the skip directive",
    rules: rules(),
    push: push({ branch: "dev", headCommitMessage: "[skip ci]" }),
    expected: { build: false },
    reason: /not the production branch/,
  },
  {
    name: "a push with no changed files builds even when every path is excluded",
    rules: rules({ pathExcludes: ["*"] }),
    push: push({ changedFiles: [] }),
    expected: { build: true, production: true },
    reason: /no changed files/,
  },
  {
    name: "a push with 3000 changed files builds without applying watch paths",
    rules: rules({ pathIncludes: ["src/*"] }),
    push: push({ changedFiles: manyFiles(3000) }),
    expected: { build: true, production: true },
    reason: /3000 files \(3000\+\)/,
  },
  {
    name: "a push with 2999 changed files still applies watch paths",
    rules: rules({ pathIncludes: ["src/*"] }),
    push: push({ changedFiles: manyFiles(2999) }),
    expected: { build: false, reason: "none of the 2999 changed files match path_includes" },
  },
  {
    name: "a push with 20 commits builds without applying watch paths",
    rules: rules({ pathExcludes: ["docs/*"] }),
    push: push({ changedFiles: ["docs/a.md"], commitCount: 20 }),
    expected: { build: true },
    reason: /20 commits \(20\+\)/,
  },
  {
    name: "a push with 19 commits still applies watch paths",
    rules: rules({ pathExcludes: ["docs/*"] }),
    push: push({ changedFiles: ["docs/a.md"], commitCount: 19 }),
    expected: { build: false, reason: "the only changed file is excluded by path_excludes" },
  },
  {
    name: "the skip directive wins over the always-build thresholds",
    rules: rules(),
    push: push({ changedFiles: [], headCommitMessage: "wip [skip ci]" }),
    expected: { build: false },
  },
  {
    name: "empty path_includes means every file",
    rules: rules({ pathIncludes: [] }),
    push: push({ changedFiles: ["anything/at/all.txt"] }),
    expected: { build: true },
    reason: /matches path_includes pattern "\*"/,
  },
  {
    name: "a file matching an include builds, and the reason names the file and pattern",
    rules: rules({ pathIncludes: ["src/*"] }),
    push: push({ changedFiles: ["README.md", "src/lib/deep/a.ts"] }),
    expected: { build: true, production: true },
    reason: /src\/lib\/deep\/a\.ts matches path_includes pattern "src\/\*"/,
  },
  {
    name: "no file matching an include does not build",
    rules: rules({ pathIncludes: ["src/*", "package.json"] }),
    push: push({ changedFiles: ["README.md", "docs/a.md"] }),
    expected: { build: false, reason: "none of the 2 changed files match path_includes" },
  },
  {
    name: "all changed files excluded does not build, and says how many",
    rules: rules({ pathExcludes: ["docs/*", "*.md"] }),
    push: push({ changedFiles: ["docs/a.txt", "README.md", "CHANGELOG.md"] }),
    expected: { build: false, reason: "all 3 changed files are excluded by path_excludes" },
  },
  {
    name: "excludes apply before includes: an excluded file cannot trigger an include",
    rules: rules({ pathIncludes: ["src/*"], pathExcludes: ["src/*.test.ts"] }),
    push: push({ changedFiles: ["src/a.test.ts", "docs/x.md"] }),
    expected: {
      build: false,
      reason: "the changed file left after path_excludes does not match path_includes",
    },
  },
  {
    name: "one file surviving the excludes and matching an include builds",
    rules: rules({ pathIncludes: ["src/*"], pathExcludes: ["src/*.test.ts"] }),
    push: push({ changedFiles: ["src/a.test.ts", "src/a.ts"] }),
    expected: { build: true },
    reason: /src\/a\.ts matches/,
  },
  {
    name: "a pattern without wildcard matches a directory prefix",
    rules: rules({ pathIncludes: ["packages/api"] }),
    push: push({ changedFiles: ["packages/api/src/index.ts"] }),
    expected: { build: true },
  },
  {
    name: "a directory pattern does not match a sibling that shares its prefix",
    rules: rules({ pathIncludes: ["packages/api"] }),
    push: push({ changedFiles: ["packages/api-client/index.ts"] }),
    expected: { build: false },
  },
  {
    name: "non-production pushes obey watch paths too",
    rules: rules({ buildNonProductionBranches: true, pathIncludes: ["worker/*"] }),
    push: push({ branch: "preview", changedFiles: ["site/index.html"] }),
    expected: { build: false, reason: "the changed file does not match path_includes" },
  },
  {
    name: "an always-building push to another branch is still a non-production build",
    rules: rules({ buildNonProductionBranches: true, pathIncludes: ["src/*"] }),
    push: push({ branch: "dev", changedFiles: [] }),
    expected: { build: true, production: false },
    reason: /non-production branch .*no changed files/,
  },
  {
    name: "an exclude without wildcard excludes a whole directory",
    rules: rules({ pathExcludes: ["docs"] }),
    push: push({ changedFiles: ["docs/a.md", "docs/guide/b.md"] }),
    expected: { build: false, reason: "all 2 changed files are excluded by path_excludes" },
  },
  {
    name: "with several includes the reason names the pattern that matched",
    rules: rules({ pathIncludes: ["src/*", "*.toml"] }),
    push: push({ changedFiles: ["README.md", "wrangler.toml"] }),
    expected: { build: true },
    reason: /wrangler\.toml matches path_includes pattern "\*\.toml"/,
  },
  {
    name: "a dot in a pattern is literal, not any character",
    rules: rules({ pathIncludes: ["wrangler.toml"] }),
    push: push({ changedFiles: ["wranglerXtoml"] }),
    expected: { build: false },
  },
];

describe("matchPush", () => {
  it.each(cases)("$name", ({ rules, push, expected, reason }) => {
    const result = matchPush(rules, push);
    expect(result).toMatchObject(expected);
    if (reason) expect(result.reason).toMatch(reason);
  });

  it("a bad pattern in the rules is reported, naming the pattern", () => {
    expect(() => matchPush(rules({ pathIncludes: ["  "] }), push())).toThrow(
      /watch path pattern " {2}" is empty/,
    );
  });
});

describe("globToRegExp", () => {
  it.each([
    { name: "* crosses directory separators", pattern: "src/*", path: "src/a/b.ts", matches: true },
    { name: "* alone matches every path", pattern: "*", path: "a/b/c.d", matches: true },
    {
      name: "a suffix pattern matches in any directory",
      pattern: "*.md",
      path: "docs/guide/x.md",
      matches: true,
    },
    { name: "a suffix pattern is anchored at the end", pattern: "*.md", path: "x.md.bak", matches: false },
    {
      name: "a prefix pattern is anchored at the start",
      pattern: "src/*",
      path: "lib/src/a.ts",
      matches: false,
    },
    {
      name: "* in the middle matches across levels",
      pattern: "apps/*/wrangler.toml",
      path: "apps/a/b/wrangler.toml",
      matches: true,
    },
    {
      name: "a literal path matches itself exactly",
      pattern: "package.json",
      path: "package.json",
      matches: true,
    },
    { name: "a literal path matches files under it", pattern: "docs", path: "docs/x.md", matches: true },
    {
      name: "a literal path does not match a longer name",
      pattern: "docs",
      path: "docs-old/x.md",
      matches: false,
    },
    { name: "a trailing slash marks the same directory", pattern: "docs/", path: "docs/x.md", matches: true },
    { name: "a leading ./ is ignored", pattern: "./src/*", path: "src/a.ts", matches: true },
    { name: "a leading / is ignored", pattern: "/src", path: "src/a.ts", matches: true },
    { name: "regex specials are literal: +", pattern: "c++/*", path: "c++/main.cc", matches: true },
    {
      name: "regex specials are literal: ? is not a wildcard",
      pattern: "a?.ts",
      path: "ab.ts",
      matches: false,
    },
    {
      name: "regex specials are literal: brackets",
      pattern: "routes/[id].ts",
      path: "routes/[id].ts",
      matches: true,
    },
    {
      name: "regex specials are literal: brackets are not a class",
      pattern: "routes/[id].ts",
      path: "routes/i.ts",
      matches: false,
    },
    { name: "matching is case-sensitive", pattern: "README.md", path: "readme.md", matches: false },
    {
      name: "file names with newlines are still matched by *",
      pattern: "src/*",
      path: "src/odd\nname",
      matches: true,
    },
  ])("$name", ({ pattern, path, matches }) => {
    expect(globToRegExp(pattern).test(path)).toBe(matches);
  });

  it.each(["", "   ", "./", "/"])("rejects the empty pattern %j", (pattern) => {
    expect(() => globToRegExp(pattern)).toThrow(/is empty; use "\*" to match every file/);
  });
});

describe("hasSkipDirective", () => {
  it.each([
    { name: "[skip ci] at the end", message: "fix: x [skip ci]", skip: true },
    { name: "[ci skip] at the start", message: "[ci skip] fix: x", skip: true },
    { name: "upper case", message: "FIX [SKIP CI]", skip: true },
    { name: "in the commit body", message: "title\n\nbody\n[skip ci]", skip: true },
    { name: "without brackets it is only words", message: "skip ci later", skip: false },
    { name: "other providers' directives are not honoured", message: "[no ci] [skip actions]", skip: false },
    { name: "a different spacing is not the directive", message: "[skip  ci]", skip: false },
    { name: "an empty message", message: "", skip: false },
  ])("$name", ({ message, skip }) => {
    expect(hasSkipDirective(message)).toBe(skip);
  });
});
