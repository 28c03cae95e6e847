import { tsImport } from "tsx/esm/api";

/**
 * The rules this repository's GitHub Actions workflows keep, as pure functions over a workflow parsed by
 * GitHub's own parser. Each returns the problems it finds, one sentence each, naming the place.
 */

/** A workflow as plain data; an expression is its source text, `${{ }}` included. */
export type Yaml = string | number | boolean | null | Yaml[] | YamlMap;
export interface YamlMap {
  [key: string]: Yaml;
}

type Parser = typeof import("@actions/workflow-parser");
type Token = NonNullable<ReturnType<Parser["parseWorkflow"]>["value"]>;

// The parser imports its schema's JSON without an import attribute, which Node's loader refuses, and Vitest
// leaves packages in node_modules to Node: tsx's loader takes it.
let parser: Promise<Parser> | undefined;
const loadParser = (): Promise<Parser> => {
  parser ??= tsImport("@actions/workflow-parser", __filename) as Promise<Parser>;
  return parser;
};

/** Where the Pulumi CLI's version is written, for every pulumi/actions step. */
export const PULUMI_VERSION_FILE = ".github/pulumi-version";
/** The policy pack every Pulumi operation runs with. */
export const POLICY_PACK = "policy";
/** The hidden line that finds the pull request's one diff comment. */
export const DIFF_MARKER = "<!-- workers-platform-diff -->";
/** The deployed stacks, in the order main reaches them, with their GitHub environments. */
export const DEPLOY_ORDER = [
  { stack: "dev", environment: "dev" },
  { stack: "staging", environment: "staging" },
  { stack: "prod", environment: "production" },
] as const;

function toYaml(p: Parser, token: Token): Yaml {
  if (p.isMapping(token)) {
    const out: YamlMap = {};
    for (const { key, value } of token)
      out[p.isString(key) ? key.value : key.toDisplayString()] = toYaml(p, value);
    return out;
  }
  if (p.isSequence(token)) return [...token].map((item) => toYaml(p, item));
  if (p.isBasicExpression(token)) return token.source ?? `\${{ ${token.expression} }}`;
  if (p.isString(token) || p.isNumber(token) || p.isBoolean(token)) return token.value;
  return null;
}

export interface ParsedWorkflow {
  /** What GitHub would report: YAML syntax, the workflow schema, expressions, job graph. */
  errors: string[];
  workflow: YamlMap;
}

export async function parseWorkflowSource(file: string, source: string): Promise<ParsedWorkflow> {
  const p = await loadParser();
  const parsed = p.parseWorkflow({ name: file, content: source }, new p.NoOperationTraceWriter());
  if (!parsed.value) {
    return { errors: parsed.context.errors.getErrors().map((e) => e.message), workflow: {} };
  }
  // The conversion is GitHub's second pass: it reports jobs that need unknown jobs, cycles, bad matrices.
  const template = await p.convertWorkflowTemplate(parsed.context, parsed.value);
  const workflow = toYaml(p, parsed.value);
  return { errors: (template.errors ?? []).map((e) => e.Message), workflow: isMap(workflow) ? workflow : {} };
}

export const isMap = (value: Yaml | undefined): value is YamlMap =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const mapOf = (value: Yaml | undefined): YamlMap => (isMap(value) ? value : {});
const listOf = (value: Yaml | undefined): Yaml[] =>
  Array.isArray(value) ? value : value == null ? [] : [value];
/** A scalar as a string: GitHub hands action inputs over as strings, `fetch-depth: 0` as "0". */
const text = (value: Yaml | undefined): string =>
  typeof value === "string" ? value : JSON.stringify(value ?? "");

export const jobsOf = (workflow: YamlMap): [string, YamlMap][] =>
  Object.entries(mapOf(workflow.jobs)).map(([id, job]) => [id, mapOf(job)]);

/** Every step of every job, with a name for messages: `jobs.<id>.steps[<i>]`. */
export function stepsOf(workflow: YamlMap): { where: string; step: YamlMap }[] {
  return jobsOf(workflow).flatMap(([job, body]) =>
    listOf(body.steps).map((step, i) => ({ where: `jobs.${job}.steps[${i}]`, step: mapOf(step) })),
  );
}

const usesAction = (step: YamlMap, action: string) => text(step.uses).startsWith(`${action}@`);
const withOf = (step: YamlMap) => mapOf(step.with);

/** Top-level permissions grant nothing written; every job states its own. */
export function permissionProblems(workflow: YamlMap): string[] {
  const problems: string[] = [];
  const top = workflow.permissions;
  if (top === undefined) {
    problems.push("permissions: missing at the top level; set `permissions: {}` and grant each job its own");
  } else if (!isMap(top) || Object.values(top).some((level) => level === "write")) {
    problems.push(`permissions: the top level grants ${text(top)}; grant write access per job`);
  }
  for (const [id, job] of jobsOf(workflow)) {
    if (job.permissions === undefined) problems.push(`jobs.${id}: no permissions; list what the job needs`);
    else if (!isMap(job.permissions))
      problems.push(`jobs.${id}: permissions ${text(job.permissions)}; list scopes`);
  }
  return problems;
}

const PINNED = /^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/;
const PIN_LINE = /^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+@[0-9a-f]{40})["']?\s*(#.*)?$/;

/** Every action or reusable workflow from another repository is pinned to a commit, its release beside it. */
export function pinProblems(workflow: YamlMap, source: string): string[] {
  const refs = [
    ...jobsOf(workflow).map(([id, job]) => ({ where: `jobs.${id}`, uses: job.uses })),
    ...stepsOf(workflow).map(({ where, step }) => ({ where, uses: step.uses })),
  ];
  const problems = refs
    .filter(({ uses }) => uses !== undefined && !text(uses).startsWith("./"))
    .filter(({ uses }) =>
      text(uses).startsWith("docker://") ? !text(uses).includes("@sha256:") : !PINNED.test(text(uses)),
    )
    .map(({ where, uses }) => `${where}: ${text(uses)} is not pinned to a full commit SHA`);
  source.split("\n").forEach((line, i) => {
    const match = PIN_LINE.exec(line);
    if (match && !/^#\s*v\d+\.\d+\.\d+\s*$/.test(match[2] ?? "")) {
      problems.push(`line ${i + 1}: ${match[1]} has no \`# vX.Y.Z\` comment naming its release`);
    }
  });
  return problems;
}

/** `owner/repo` → the refs it is used at, to see that one action is pinned to one commit everywhere. */
export function remoteActions(workflow: YamlMap): [string, string][] {
  return stepsOf(workflow)
    .map(({ step }) => text(step.uses))
    .filter((uses) => PINNED.test(uses))
    .map((uses) => uses.split("@") as [string, string]);
}

/** Node comes from .nvmrc, the one place its version is written. */
export function nodeVersionProblems(workflow: YamlMap): string[] {
  return stepsOf(workflow)
    .filter(({ step }) => usesAction(step, "actions/setup-node"))
    .filter(({ step }) => withOf(step)["node-version-file"] !== ".nvmrc" || "node-version" in withOf(step))
    .map(({ where }) => `${where}: setup-node takes \`node-version-file: .nvmrc\` and no node-version`);
}

const PULUMI_RUN = /\bpulumi\s+(up|update|preview|refresh|destroy)\b/;

/** Every Pulumi operation runs the policy pack, with the CLI version from its one file. */
export function pulumiProblems(workflow: YamlMap): string[] {
  const problems: string[] = [];
  for (const { where, step } of stepsOf(workflow)) {
    if (usesAction(step, "pulumi/actions")) {
      const inputs = withOf(step);
      const packs = text(inputs.policyPacks)
        .split(/[\n,]/)
        .map((pack) => pack.trim());
      if (!packs.includes(POLICY_PACK))
        problems.push(`${where}: pulumi/actions without \`policyPacks: ${POLICY_PACK}\``);
      if (inputs["pulumi-version-file"] !== PULUMI_VERSION_FILE || "pulumi-version" in inputs) {
        problems.push(`${where}: pulumi/actions takes \`pulumi-version-file: ${PULUMI_VERSION_FILE}\` only`);
      }
    }
    const run = typeof step.run === "string" ? step.run : "";
    if (PULUMI_RUN.test(run) && !run.includes(`--policy-pack ${POLICY_PACK}`)) {
      problems.push(
        `${where}: \`pulumi ${PULUMI_RUN.exec(run)?.[1]}\` without \`--policy-pack ${POLICY_PACK}\``,
      );
    }
  }
  return problems;
}

const UNTRUSTED_IN_RUN = /\$\{\{[^}]*\b(github\.event\.|github\.head_ref|inputs\.)/;

/** Text a pull request or a dispatcher controls reaches a shell through `env`, never pasted into a script. */
export function injectionProblems(workflow: YamlMap): string[] {
  return stepsOf(workflow).flatMap(({ where, step }) => {
    const match = UNTRUSTED_IN_RUN.exec(text(step.run));
    return match ? [`${where}: run interpolates ${match[1]}…; pass it in env`] : [];
  });
}

/** pull_request_target runs with write access next to a pull request's code: not used here. */
export function triggerProblems(workflow: YamlMap): string[] {
  const on = workflow.on;
  const events = isMap(on) ? Object.keys(on) : listOf(on).map(text);
  return events.includes("pull_request_target")
    ? ["on: pull_request_target is not used; see preview.yml"]
    : [];
}

/** Everything every workflow keeps: what GitHub's parser reports, then the rules above. */
export async function checkWorkflow(file: string, source: string): Promise<string[]> {
  const { errors, workflow } = await parseWorkflowSource(file, source);
  if (errors.length > 0) return errors;
  return [
    ...permissionProblems(workflow),
    ...pinProblems(workflow, source),
    ...nodeVersionProblems(workflow),
    ...pulumiProblems(workflow),
    ...injectionProblems(workflow),
    ...triggerProblems(workflow),
  ];
}

/** The names of the secrets a part of a workflow reads. */
export function secretsReferenced(value: Yaml): string[] {
  return [...JSON.stringify(value).matchAll(/\bsecrets(?:\.(\w+)|\[)/g)].map(
    (match) => match[1] ?? "secrets[…]",
  );
}

const environmentOf = (job: YamlMap) => (isMap(job.environment) ? job.environment.name : job.environment);

/** preview.yml: a diff without secrets for every pull request; pulumi preview only where secrets exist. */
export function previewProblems(workflow: YamlMap): string[] {
  const problems: string[] = [];
  const diff = mapOf(mapOf(workflow.jobs).diff);
  const diffSteps = stepsOf({ jobs: { diff } });
  if (!isMap(workflow.on) || !("pull_request" in workflow.on))
    problems.push("on: preview runs on pull_request");
  for (const name of secretsReferenced(diff))
    problems.push(`jobs.diff: reads secrets.${name}; a fork has none`);
  if (diff.environment !== undefined)
    problems.push("jobs.diff: an environment would hold forks' runs for approval");
  if (
    !diffSteps.some(
      ({ step }) => usesAction(step, "actions/checkout") && text(withOf(step)["fetch-depth"]) === "0",
    )
  ) {
    problems.push("jobs.diff: checkout needs `fetch-depth: 0`, the diff reads the base from history");
  }
  const script = diffSteps.map(({ step }) => text(step.run)).find((run) => run.includes("diff -- --stack"));
  if (!script) problems.push("jobs.diff: no step runs `npm run diff -- --stack`");
  for (const { stack } of DEPLOY_ORDER) {
    if (script && !new RegExp(`\\b${stack}\\b`).test(script))
      problems.push(`jobs.diff: stack ${stack} is not diffed`);
  }
  if (script && !script.includes(DIFF_MARKER)) problems.push(`jobs.diff: the comment lacks ${DIFF_MARKER}`);
  if (!diffSteps.some(({ step }) => usesAction(step, "actions/upload-artifact"))) {
    problems.push("jobs.diff: the comment is not uploaded as an artifact");
  }
  const previews = jobsOf(workflow).filter(([, job]) =>
    stepsOf({ jobs: { job } }).some(({ step }) => usesAction(step, "pulumi/actions")),
  );
  if (previews.length === 0) problems.push("jobs: no job runs pulumi preview");
  for (const [id, job] of previews) {
    if (!/needs\.\w+\.outputs\./.test(text(job.if))) {
      problems.push(`jobs.${id}: runs without a check that the secrets exist (if: needs.<job>.outputs…)`);
    }
  }
  return problems;
}

/** preview-comment.yml: posts the diff from the Preview run's artifact and runs nothing of the pull request. */
export function previewCommentProblems(workflow: YamlMap, previewName: string): string[] {
  const problems: string[] = [];
  const run = mapOf(mapOf(workflow.on).workflow_run);
  if (!listOf(run.workflows).includes(previewName))
    problems.push(`on.workflow_run: does not follow ${previewName}`);
  if (!listOf(run.types).includes("completed"))
    problems.push("on.workflow_run: types must include completed");
  for (const { where, step } of stepsOf(workflow)) {
    if (usesAction(step, "actions/checkout"))
      problems.push(`${where}: checks out code; this job must run none`);
    if (step.run !== undefined) problems.push(`${where}: runs a shell; only the pinned actions run here`);
  }
  const scripts = stepsOf(workflow).filter(({ step }) => usesAction(step, "actions/github-script"));
  if (!scripts.some(({ step }) => text(withOf(step).script).includes(DIFF_MARKER))) {
    problems.push(`jobs: no github-script step finds its comment by ${DIFF_MARKER}`);
  }
  return problems;
}

/** deploy.yml: dev, then staging, then production, one deploy per stack at a time, never cancelled. */
export function deployProblems(workflow: YamlMap): string[] {
  const problems: string[] = [];
  if (!listOf(mapOf(mapOf(workflow.on).push).branches).includes("main"))
    problems.push("on.push: not on main");
  const jobs = jobsOf(workflow);
  const byEnvironment = new Map(jobs.map(([id, job]) => [text(environmentOf(job)), { id, job }]));
  const groups = new Set<string>();
  DEPLOY_ORDER.forEach(({ stack, environment }, i) => {
    const entry = byEnvironment.get(environment);
    if (!entry) {
      problems.push(`jobs: no job deploys ${stack} in environment ${environment}`);
      return;
    }
    const { id, job } = entry;
    const previous = DEPLOY_ORDER[i - 1];
    const needs = listOf(job.needs).map(text);
    if (previous && !needs.includes(byEnvironment.get(previous.environment)?.id ?? previous.stack)) {
      problems.push(`jobs.${id}: does not need the ${previous.environment} deploy`);
    }
    const concurrency = mapOf(job.concurrency);
    const group = text(concurrency.group);
    if (!group.includes(stack) || groups.has(group))
      problems.push(`jobs.${id}: needs a concurrency group of its own`);
    groups.add(group);
    if (text(concurrency["cancel-in-progress"]) !== "false") {
      problems.push(
        `jobs.${id}: cancel-in-progress must be false; a cancelled pulumi up leaves a stack half done`,
      );
    }
    const up = stepsOf({ jobs: { job } }).find(({ step }) => usesAction(step, "pulumi/actions"));
    if (!up || withOf(up.step).command !== "up" || withOf(up.step)["stack-name"] !== stack) {
      problems.push(`jobs.${id}: no pulumi/actions step with command up and stack-name ${stack}`);
    }
  });
  const first = byEnvironment.get(DEPLOY_ORDER[0].environment)?.job;
  const summary = jobs.find(([, job]) =>
    stepsOf({ jobs: { job } }).some(
      ({ step }) =>
        text(step.run).includes("diff -- --stack") && text(step.run).includes("GITHUB_STEP_SUMMARY"),
    ),
  );
  if (!summary) problems.push("jobs: no job appends `npm run diff` to the run summary");
  else if (first && !listOf(first.needs).includes(summary[0])) {
    problems.push(`jobs: the ${DEPLOY_ORDER[0].stack} deploy does not wait for the diff in ${summary[0]}`);
  }
  return problems;
}

/** drift.yml: scheduled, and failing when a stack would change. */
export function driftProblems(workflow: YamlMap): string[] {
  const problems: string[] = [];
  if (!listOf(mapOf(workflow.on).schedule).some((entry) => typeof mapOf(entry).cron === "string")) {
    problems.push("on.schedule: drift runs on a cron schedule");
  }
  const pulumi = stepsOf(workflow).filter(
    ({ step }) => usesAction(step, "pulumi/actions") || PULUMI_RUN.test(text(step.run)),
  );
  if (pulumi.length === 0) problems.push("jobs: no step runs pulumi preview");
  for (const { where, step } of pulumi) {
    const expects =
      text(withOf(step)["expect-no-changes"]) === "true" || text(step.run).includes("--expect-no-changes");
    if (!expects) problems.push(`${where}: preview without expect-no-changes succeeds on drift`);
  }
  return problems;
}
