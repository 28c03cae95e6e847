import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../../../components/package-root";
import type { CapturedResource } from "../../graph";
import { projectRoot, REPO_ROOT } from "../../stack-file";
import type * as Synth from "../../synth";
import { planLocal } from "../miniflare-plan";
import type { LocalTargetOptions, TargetContext, TargetService } from "./context";

const SKIP_DIRS = new Set(["node_modules", ".git", ".local", ".build", "coverage", "__snapshots__", "bench"]);
const INPUT_FILE = /\.(ts|mts|cts|js|mjs|cjs|json|ya?ml|sql)$/;

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) hashTree(hash, full);
    } else if (INPUT_FILE.test(entry.name) && !entry.name.endsWith(".test.ts")) {
      hash.update(`${full}\0`).update(readFileSync(full)).update("\0");
    }
  }
}

/**
 * Everything the captured graph depends on: the program's project and this package's files (components,
 * Worker entries, SQL), the stack file, and the lockfile. An unchanged key means an unchanged graph.
 */
function graphKey(options: LocalTargetOptions, stack: string): string {
  const hash = createHash("sha256").update(
    JSON.stringify([stack, options.entry ?? null, options.configFile ?? null]),
  );
  const packageDir = packageRoot();
  hashTree(hash, packageDir);
  const project = options.entry ? projectRoot(path.dirname(path.resolve(options.entry))) : REPO_ROOT;
  if (project !== packageDir) hashTree(hash, project);
  if (options.configFile) hash.update(readFileSync(options.configFile));
  return hash.digest("hex");
}

/** Loaded only when the graph must be evaluated: it brings in the Pulumi SDK, the slowest part of a start. */
function loadSynth(): typeof Synth {
  if (!require.extensions[".ts"]) require("../../register.cjs");
  return require("../../synth");
}

/**
 * The program's resource graph, evaluated with the same capture synth uses. Evaluating loads the Pulumi
 * SDK and bundles every Worker, which is most of a start; when no input changed since the last start,
 * the graph saved then is the same graph, so it is reused.
 */
async function programGraph({ options, stateDir, log }: TargetContext): Promise<CapturedResource[]> {
  const stack = options.stack ?? "local";
  const cacheable = options.program === undefined;
  const file = path.join(stateDir, "graph.json");
  const key = cacheable ? graphKey(options, stack) : "";
  if (cacheable && existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key: string; resources: CapturedResource[] };
    if (cached.key === key) {
      log("program unchanged since the last start: reusing its resource graph");
      return cached.resources;
    }
  }
  log(`evaluating the program for stack "${stack}" and bundling its Workers`);
  const { captureStack } = loadSynth();
  const resources = await captureStack({
    stack,
    configFile: options.configFile,
    entry: options.entry,
    program: options.program,
  });
  // The graph holds the local stack's development secrets: readable by this user only.
  if (cacheable) writeFileSync(file, JSON.stringify({ key, resources }), { mode: 0o600 });
  return resources;
}

/**
 * The resource graph (saved at the last start, or evaluated) and its local plan. Nothing starts when the
 * graph has a resource type the target does not know: planning throws.
 */
export const resourceGraph: TargetService = {
  name: "resource graph",
  start: async (ctx) => {
    const resources = await programGraph(ctx);
    ctx.plan = planLocal(resources);
    ctx.resources = resources;
    return {};
  },
};
