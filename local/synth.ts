import { createHash } from "node:crypto";
import path from "node:path";
import { LIVE_TAGS_ENV } from "../components/live-state";
import { type CapturedResource, captureProgram } from "./capture";
import { programEntryPath } from "./cli-args";
import { maskSecrets } from "./mask";
import {
  projectEntry,
  projectName,
  projectRoot,
  REPO_ROOT,
  readStackFile,
  stackFilePath,
} from "./stack-file";

export interface SynthResource {
  urn: string;
  type: string;
  name: string;
  parent: string | null;
  inputs: Record<string, unknown>;
  protect: boolean;
  retainOnDelete: boolean;
  dependsOn: string[];
}

export interface SynthGraph {
  stack: string;
  resources: SynthResource[];
}

export interface SynthOptions {
  stack: string;
  /** Config file instead of `<stack config dir>/Pulumi.<stack>.yaml`. */
  configFile?: string;
  /** JSON file of live Durable Object migration tags by script name; none are assumed without it. */
  liveTagsFile?: string;
  /** The program to evaluate, as a function (tests). @default the project's entry module (`projectEntry`) */
  program?: () => unknown;
  /**
   * Entry module of another Pulumi program built from these components (or plain `@pulumi/cloudflare`
   * resources). Its project is the `Pulumi.yaml` found beside or above it.
   */
  entry?: string;
}

export { MASK } from "./mask";

/** Large payloads shown as their digest and size. */
const DIGESTED = new Set(["content", "sql"]);
/**
 * A dynamic resource's provider is its serialized code, whose text depends on the TypeScript compiler
 * that loaded the program; its digest would change with the toolchain, not with the graph.
 */
const DYNAMIC_PROVIDER = "[dynamic provider]";

function digest(value: string): { sha256: string; bytes: number } {
  return { sha256: createHash("sha256").update(value).digest("hex"), bytes: Buffer.byteLength(value) };
}

/** What synth shows of a value that is not secret: payloads as digests, a dynamic provider by name. */
function render(value: unknown, key: string | undefined): unknown {
  if (key === "__provider") return DYNAMIC_PROVIDER;
  if (typeof value === "string" && key !== undefined && DIGESTED.has(key)) return digest(value);
  return undefined;
}

/** The resource graph as the synth contract prints it: secrets masked (fail-closed), payloads digested, stable order. */
export function renderGraph(stack: string, resources: CapturedResource[]): SynthGraph {
  return {
    stack,
    resources: [...resources]
      .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0))
      .map((r) => ({
        urn: r.urn,
        type: r.type,
        name: r.name,
        parent: r.parent,
        inputs: maskSecrets(r.inputs, render) as Record<string, unknown>,
        protect: r.protect,
        retainOnDelete: r.retainOnDelete,
        dependsOn: r.dependsOn,
      })),
  };
}

/**
 * Evaluates the program for a stack under Pulumi's mock runtime and returns its captured resources.
 * Shared by synth and the local target, so both see exactly what `pulumi up` would register.
 */
/**
 * Evaluates a Pulumi program's entry module afresh (a module runs its top level once per load, and a
 * program registers its resources there), compiling TypeScript with the project's loader when no other
 * loader handles `.ts` in this process.
 */
function requireProgram(entry: string): unknown {
  if (!require.extensions[".ts"]) require("./register.cjs");
  delete require.cache[require.resolve(entry)];
  return require(entry);
}

export async function captureStack(options: SynthOptions): Promise<CapturedResource[]> {
  const entry = options.entry === undefined ? undefined : programEntryPath(options.entry);
  const root = entry ? projectRoot(path.dirname(entry)) : REPO_ROOT;
  const project = projectName(root);
  const { config, secretKeys } = readStackFile(
    options.configFile ?? stackFilePath(options.stack, root),
    project,
  );
  const previous = process.env[LIVE_TAGS_ENV];
  process.env[LIVE_TAGS_ENV] = options.liveTagsFile ?? "none";
  try {
    const program = options.program ?? (() => requireProgram(entry ?? projectEntry(root)));
    const { resources } = await captureProgram(
      { project, stack: options.stack, config, secretKeys },
      program,
    );
    return resources;
  } finally {
    if (previous === undefined) delete process.env[LIVE_TAGS_ENV];
    else process.env[LIVE_TAGS_ENV] = previous;
  }
}

export async function synth(options: SynthOptions): Promise<SynthGraph> {
  return renderGraph(options.stack, await captureStack(options));
}
