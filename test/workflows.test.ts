import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkWorkflow,
  DIFF_MARKER,
  deployProblems,
  driftProblems,
  isMap,
  PULUMI_VERSION_FILE,
  parseWorkflowSource,
  previewCommentProblems,
  previewProblems,
  remoteActions,
  type YamlMap,
} from "./workflow-rules";

const ROOT = path.join(__dirname, "..");
const DIR = path.join(ROOT, ".github", "workflows");
const FILES = readdirSync(DIR)
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();
const source = (file: string) => readFileSync(path.join(DIR, file), "utf8");

async function workflow(file: string, text = source(file)): Promise<YamlMap> {
  const { errors, workflow } = await parseWorkflowSource(file, text);
  expect(errors).toEqual([]);
  return workflow;
}

/** A GitHub Actions expression, `${{ inner }}`. */
const expr = (inner: string) => `\${{ ${inner} }}`;

/** The text with one exact passage replaced; fails when the passage is gone, so no case passes vacuously. */
function mutate(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe(".github/workflows", () => {
  it("holds the five workflows this repository runs", () => {
    expect(FILES).toEqual(["ci.yml", "deploy.yml", "drift.yml", "preview-comment.yml", "preview.yml"]);
  });

  it.each(FILES)("%s parses with GitHub's parser and keeps every rule", async (file) => {
    expect(await checkWorkflow(file, source(file))).toEqual([]);
  });

  it("pins each action to one commit across all the workflows", async () => {
    const refs = new Map<string, Set<string>>();
    for (const file of FILES) {
      for (const [action, sha] of remoteActions(await workflow(file)))
        refs.set(action, (refs.get(action) ?? new Set()).add(sha));
    }
    expect([...refs].filter(([, shas]) => shas.size > 1)).toEqual([]);
    expect([...refs.keys()].sort()).toEqual([
      "actions/checkout",
      "actions/download-artifact",
      "actions/github-script",
      "actions/setup-node",
      "actions/upload-artifact",
      "pulumi/actions",
    ]);
  });

  it("installs the Pulumi CLI of the release the SDK in package.json comes from", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    expect(readFileSync(path.join(ROOT, PULUMI_VERSION_FILE), "utf8")).toBe(
      `${pkg.devDependencies["@pulumi/pulumi"]}\n`,
    );
  });

  it(".nvmrc names a Node release within package.json's engines", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
    const [major = 0, minor = 0] = readFileSync(path.join(ROOT, ".nvmrc"), "utf8")
      .trim()
      .split(".")
      .map(Number);
    const [, low = "", lowMinor = "", high = ""] = /^>=(\d+)\.(\d+) <(\d+)$/.exec(pkg.engines.node) ?? [];
    expect(high, `engines.node ${pkg.engines.node} is not ">=X.Y <Z"`).not.toBe("");
    expect(major * 1000 + minor).toBeGreaterThanOrEqual(Number(low) * 1000 + Number(lowMinor));
    expect(major).toBeLessThan(Number(high));
  });
});

describe("preview.yml", () => {
  it("diffs every stack without secrets and runs pulumi preview only where the secrets exist", async () => {
    expect(previewProblems(await workflow("preview.yml"))).toEqual([]);
  });

  it.each([
    [
      "a secret in the diff job",
      "    name: Resource graph diff\n",
      `    name: Resource graph diff\n    env:\n      TOKEN: ${expr("secrets.PULUMI_ACCESS_TOKEN")}\n`,
      "jobs.diff: reads secrets.PULUMI_ACCESS_TOKEN; a fork has none",
    ],
    [
      "a shallow clone",
      "          fetch-depth: 0\n",
      "          fetch-depth: 1\n",
      "jobs.diff: checkout needs `fetch-depth: 0`, the diff reads the base from history",
    ],
    [
      "a stack left out",
      "for stack in dev staging prod local",
      "for stack in dev prod local",
      "jobs.diff: stack staging is not diffed",
    ],
    [
      "pulumi preview without the secrets check",
      "    if: needs.credentials.outputs.available == 'true'\n",
      "",
      "jobs.pulumi-preview: runs without a check that the secrets exist (if: needs.<job>.outputs…)",
    ],
  ])("reports %s", async (_, from, to, problem) => {
    expect(previewProblems(await workflow("preview.yml", mutate(source("preview.yml"), from, to)))).toContain(
      problem,
    );
  });
});

describe("preview-comment.yml", () => {
  it("follows the Preview workflow and runs none of the pull request's code", async () => {
    const preview = await workflow("preview.yml");
    expect(previewCommentProblems(await workflow("preview-comment.yml"), String(preview.name))).toEqual([]);
  });

  it.each([
    [
      "a checkout",
      "    steps:\n",
      "    steps:\n      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n",
      "jobs.comment.steps[0]: checks out code; this job must run none",
    ],
    [
      "a shell step",
      "    steps:\n",
      "    steps:\n      - run: cat comment.md\n",
      "jobs.comment.steps[0]: runs a shell; only the pinned actions run here",
    ],
    [
      "another workflow",
      "workflows: [Preview]",
      "workflows: [CI]",
      "on.workflow_run: does not follow Preview",
    ],
  ])("reports %s", async (_, from, to, problem) => {
    const text = mutate(source("preview-comment.yml"), from, to);
    expect(previewCommentProblems(await workflow("preview-comment.yml", text), "Preview")).toContain(problem);
  });
});

type Call = [string, ...unknown[]];

/**
 * Runs preview-comment.yml's github-script as actions/github-script would, against a fake GitHub: an
 * artifact folder with the given files, one pull request (#12) at `prHead`, the comments already there; the
 * Preview run diffed commit `abc`.
 */
async function runCommentScript(
  files: Record<string, string>,
  comments: { id: number; login: string; body: string }[],
  prHead = "abc",
) {
  const steps = (await workflow("preview-comment.yml")).jobs as YamlMap;
  const step = ((steps.comment as YamlMap).steps as YamlMap[]).find((s) =>
    String(s.uses).startsWith("actions/github-script@"),
  );
  const script = String((step?.with as YamlMap | undefined)?.script);
  const dir = mkdtempSync(path.join(tmpdir(), "wp-diff-artifact-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  const calls: Call[] = [];
  const github = {
    paginate: async (method: string) => {
      calls.push([method]);
      return comments.map(({ id, login, body }) => ({ id, body, user: { login }, html_url: `#${id}` }));
    },
    rest: {
      pulls: {
        get: async ({ pull_number }: { pull_number: number }) => {
          calls.push(["pulls.get", pull_number]);
          if (pull_number !== 12) throw new Error("Not Found");
          return { data: { head: { sha: prHead } } };
        },
      },
      issues: {
        listComments: "issues.listComments",
        updateComment: async ({ comment_id, body }: { comment_id: number; body: string }) => {
          calls.push(["issues.updateComment", comment_id, body]);
        },
        createComment: async ({ issue_number, body }: { issue_number: number; body: string }) => {
          calls.push(["issues.createComment", issue_number, body]);
          return { data: { html_url: "#new" } };
        },
      },
    },
  };
  const context = { repo: { owner: "owner", repo: "repo" }, payload: { workflow_run: { head_sha: "abc" } } };
  const core = {
    setFailed: (message: string) => calls.push(["setFailed", message]),
    notice: (message: string) => calls.push(["notice", message]),
    info: () => {},
  };
  const AsyncFunction = (async () => {}).constructor as new (
    ...args: string[]
  ) => (...args: unknown[]) => Promise<void>;
  try {
    const run = new AsyncFunction("require", "github", "context", "core", "process", script);
    await run(createRequire(__filename), github, context, core, { env: { DIFF_DIR: dir } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return calls;
}

describe("preview-comment.yml's script", () => {
  const diff = `${DIFF_MARKER}\n## Resource graph diff\n\n### Stack \`dev\`: 1 changed\n`;

  it("posts the first diff as a new comment with the marker once", async () => {
    const calls = await runCommentScript({ "pr-number": "12\n", "comment.md": diff }, []);
    const writes = calls.filter(([name]) => name.startsWith("issues.") && name !== "issues.listComments");
    expect(writes).toEqual([["issues.createComment", 12, `${diff.trim()}\n`]]);
  });

  it("edits its own earlier comment, not a person's comment quoting the marker", async () => {
    const comments = [
      { id: 1, login: "someone", body: `quoting ${DIFF_MARKER}` },
      { id: 2, login: "github-actions[bot]", body: `${DIFF_MARKER}\nold` },
    ];
    const calls = await runCommentScript({ "pr-number": "12", "comment.md": diff }, comments);
    expect(
      calls.filter(([name]) => name === "issues.updateComment" || name === "issues.createComment"),
    ).toEqual([["issues.updateComment", 2, `${diff.trim()}\n`]]);
  });

  it.each([["12; curl evil"], ["../12"], ["0"], [""], ["1e3"], ["12345678901"]])(
    "refuses the pull request number %j and calls no API",
    async (number) => {
      const calls = await runCommentScript({ "pr-number": number, "comment.md": diff }, []);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.[0]).toBe("setFailed");
    },
  );

  it("writes nothing when the pull request's head is not the commit the run diffed (stale, or another PR)", async () => {
    const calls = await runCommentScript({ "pr-number": "12", "comment.md": diff }, [], "def");
    expect(calls.map(([name]) => name)).toEqual(["pulls.get", "notice"]);
  });

  it("cuts an oversized body below GitHub's limit and keeps one marker", async () => {
    const huge = `${DIFF_MARKER}\n${"x".repeat(300_000)}${DIFF_MARKER}`;
    const calls = await runCommentScript({ "pr-number": "12", "comment.md": huge }, []);
    const body = String(calls.find(([name]) => name === "issues.createComment")?.[2]);
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain("cut at 60000 characters");
    expect(body.split(DIFF_MARKER)).toHaveLength(2);
  });
});

describe("deploy.yml", () => {
  it("deploys dev, then staging, then production, one deploy per stack at a time, after the diff", async () => {
    expect(deployProblems(await workflow("deploy.yml"))).toEqual([]);
  });

  it.each([
    [
      "prod before staging",
      "    needs: staging\n",
      "    needs: dev\n",
      "jobs.prod: does not need the staging deploy",
    ],
    [
      "a cancellable deploy",
      "      group: deploy-staging\n      cancel-in-progress: false",
      "      group: deploy-staging\n      cancel-in-progress: true",
      "jobs.staging: cancel-in-progress must be false; a cancelled pulumi up leaves a stack half done",
    ],
    [
      "a shared group",
      "group: deploy-prod",
      "group: deploy-staging",
      "jobs.prod: needs a concurrency group of its own",
    ],
    [
      "no production environment",
      "environment: production",
      "environment: prod",
      "jobs: no job deploys prod in environment production",
    ],
    [
      "dev before the diff",
      "    needs: risks\n",
      "",
      "jobs: the dev deploy does not wait for the diff in risks",
    ],
  ])("reports %s", async (_, from, to, problem) => {
    expect(deployProblems(await workflow("deploy.yml", mutate(source("deploy.yml"), from, to)))).toContain(
      problem,
    );
  });
});

describe("drift.yml", () => {
  it("runs on a schedule and fails when a stack would change", async () => {
    expect(driftProblems(await workflow("drift.yml"))).toEqual([]);
  });

  it.each([
    [
      "no schedule",
      '  schedule:\n    - cron: "23 5 * * *"\n',
      "",
      "on.schedule: drift runs on a cron schedule",
    ],
    [
      "a preview that passes on drift",
      "          expect-no-changes: true\n",
      "",
      "jobs.drift.steps[3]: preview without expect-no-changes succeeds on drift",
    ],
  ])("reports %s", async (_, from, to, problem) => {
    expect(driftProblems(await workflow("drift.yml", mutate(source("drift.yml"), from, to)))).toContain(
      problem,
    );
  });
});

const CHECKOUT = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1";
const SAMPLE = `name: Sample
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: ${CHECKOUT}
      - uses: actions/setup-node@820762786026740c76f36085b0efc47a31fe5020 # v7.0.0
        with:
          node-version-file: .nvmrc
      - run: npm test
`;
const PULUMI_STEP = `      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          command: up
          stack-name: dev
          pulumi-version-file: ${PULUMI_VERSION_FILE}
          policyPacks: policy
`;

describe("checkWorkflow", () => {
  it("passes the sample every broken case below starts from", async () => {
    expect(await checkWorkflow("sample.yml", SAMPLE)).toEqual([]);
    expect(await checkWorkflow("sample.yml", SAMPLE + PULUMI_STEP)).toEqual([]);
  });

  it.each([
    [
      "a tag instead of a commit",
      CHECKOUT,
      "actions/checkout@v7",
      "jobs.build.steps[0]: actions/checkout@v7 is not pinned",
    ],
    [
      "a short commit",
      CHECKOUT,
      "actions/checkout@3d3c42e # v7.0.1",
      "jobs.build.steps[0]: actions/checkout@3d3c42e is not pinned",
    ],
    [
      "a commit without its release",
      CHECKOUT,
      "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
      "line 10: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 has no `# vX.Y.Z` comment",
    ],
    [
      "a job without permissions",
      "    permissions:\n      contents: read\n",
      "",
      "jobs.build: no permissions",
    ],
    ["no top-level permissions", "permissions: {}\n", "", "permissions: missing at the top level"],
    [
      "write-all at the top",
      "permissions: {}\n",
      "permissions: write-all\n",
      "permissions: the top level grants write-all",
    ],
    [
      "a YAML syntax error",
      "    steps:\n",
      "    steps: [\n",
      "sample.yml: Flow sequence in block collection must be",
    ],
    ["a misspelt key", "    permissions:\n", "    permisions:\n", "Unexpected value 'permisions'"],
    [
      "a broken expression",
      "npm test",
      `echo ${expr("github.sha )")}`,
      "(Line: 14, Col: 14): Unexpected symbol: ')'",
    ],
    [
      "a job needing an unknown one",
      "jobs:\n",
      "jobs:\n  lint:\n    needs: compile\n    runs-on: ubuntu-24.04\n    permissions: {}\n    steps:\n      - run: echo\n",
      "Job 'lint' depends on unknown job 'compile'.",
    ],
    [
      "a Node version outside .nvmrc",
      "node-version-file: .nvmrc",
      "node-version: 22",
      "jobs.build.steps[1]: setup-node takes `node-version-file: .nvmrc`",
    ],
    [
      "pulumi up without the policy pack",
      "      - run: npm test\n",
      "      - run: npx pulumi up --yes --stack dev\n",
      "jobs.build.steps[2]: `pulumi up` without `--policy-pack policy`",
    ],
    [
      "pull_request_target",
      "on: push",
      "on: [push, pull_request_target]",
      "on: pull_request_target is not used",
    ],
    [
      "a pull request's title pasted into a script",
      "npm test",
      `echo '${expr("github.event.pull_request.title")}'`,
      "jobs.build.steps[2]: run interpolates github.event.…; pass it in env",
    ],
  ])("reports %s", async (_, from, to, problem) => {
    const problems = await checkWorkflow("sample.yml", mutate(SAMPLE, from, to));
    expect(
      problems.some((p) => p.includes(problem)),
      `${problem} in ${JSON.stringify(problems)}`,
    ).toBe(true);
  });

  it.each([
    [
      "without policyPacks",
      "          policyPacks: policy\n",
      "",
      "pulumi/actions without `policyPacks: policy`",
    ],
    [
      "with its own CLI version",
      `          pulumi-version-file: ${PULUMI_VERSION_FILE}\n`,
      "          pulumi-version: 3.200.0\n",
      "pulumi/actions takes `pulumi-version-file: .github/pulumi-version` only",
    ],
  ])("reports pulumi/actions %s", async (_, from, to, problem) => {
    const problems = await checkWorkflow("sample.yml", SAMPLE + mutate(PULUMI_STEP, from, to));
    expect(problems).toEqual([`jobs.build.steps[3]: ${problem}`]);
  });

  it("reads expressions as the text written, so a rule sees secrets and flags in them", async () => {
    const { workflow } = await parseWorkflowSource(
      "sample.yml",
      mutate(SAMPLE, "npm test", `echo ${expr("secrets.X")} --flag`),
    );
    const jobs = workflow.jobs;
    expect(isMap(jobs) && JSON.stringify(jobs.build)).toContain(`echo ${expr("secrets.X")} --flag`);
  });
});
