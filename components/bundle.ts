import { createHash } from "node:crypto";
import { builtinModules } from "node:module";
import path from "node:path";
import * as esbuild from "esbuild";
import { BROWSER_MODULES_CONFIG, browserModules } from "./browser-modules";
import { buildIdentity, readCachedBuild, writeCachedBuild } from "./bundle-cache";
import { packageRoot } from "./package-root";

/** A Worker's entry bundled into one ES module. */
export interface WorkerBundle {
  /** The module's source. */
  content: string;
  /** Hex SHA-256 of `content`. */
  sha256: string;
  /** Size of `content` in bytes. */
  bytes: number;
  /** Names the module exports (`default` included when present). */
  exports: string[];
}

export interface BundleOptions {
  /** Resolve Node.js built-ins to workerd's `node:` modules (needs the `nodejs_compat` flag). */
  nodejsCompat: boolean;
  /** Compile-time constants, as esbuild's `define`. */
  define?: Record<string, string>;
}

const NODE_BUILTIN = new RegExp(`^(node:)?(${builtinModules.map((m) => m.replace("/", "\\/")).join("|")})$`);

/**
 * Node built-ins stay external as `node:*` imports. A CommonJS `require()` of one (as in `pg`) cannot be
 * an external require in an ES module, so it goes through a tiny wrapper whose import esbuild hoists.
 */
const nodeBuiltins: esbuild.Plugin = {
  name: "node-builtins",
  setup(build) {
    build.onResolve({ filter: NODE_BUILTIN }, (args) => {
      const id = args.path.startsWith("node:") ? args.path : `node:${args.path}`;
      if (args.kind === "require-call") return { path: id, namespace: "node-require" };
      return { path: id, external: true };
    });
    build.onLoad({ filter: /.*/, namespace: "node-require" }, (args) => ({
      contents: `import * as mod from ${JSON.stringify(args.path)};\nmodule.exports = mod.default ?? mod;\n`,
      loader: "js",
    }));
  },
};

const cache = new Map<string, Promise<WorkerBundle>>();

/**
 * Paths in esbuild's metafile and output are relative to the package's folder, so that no output depends
 * on the working directory.
 */
const workingDir = () => packageRoot();

/**
 * Bundles a Worker entry at program time with workerd's resolution conditions. Results are cached per
 * process by entry and options, so evaluating several stacks bundles each entry once, and on disk by the
 * content of every file the bundle was built from (see bundle-cache.ts), so that the next process does not
 * bundle again. A build error rejects with esbuild's messages (file, line, text).
 */
export function bundleWorker(entry: string, options: BundleOptions): Promise<WorkerBundle> {
  const absolute = path.resolve(entry);
  const key = JSON.stringify([absolute, options]);
  let bundle = cache.get(key);
  if (!bundle) {
    bundle = buildWorkerBundle(absolute, options);
    cache.set(key, bundle);
  }
  return bundle;
}

function toBundle(content: string, exports: string[]): WorkerBundle {
  return {
    content,
    sha256: createHash("sha256").update(content).digest("hex"),
    bytes: Buffer.byteLength(content),
    exports,
  };
}

/** `bundleWorker` without the per-process memo: the disk cache when it holds this build, esbuild otherwise. */
export async function buildWorkerBundle(entry: string, options: BundleOptions): Promise<WorkerBundle> {
  const absolute = path.resolve(entry);
  const identity = buildIdentity({
    entry: absolute,
    settings: { nodejsCompat: options.nodejsCompat, define: options.define ?? {} },
    configuredIn: [__filename, BROWSER_MODULES_CONFIG],
  });
  const cached = readCachedBuild(identity);
  if (cached) return toBundle(cached.text, cached.exports);
  const result = await esbuild.build({
    entryPoints: [absolute],
    absWorkingDir: workingDir(),
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["workerd", "worker", "browser", "module", "main"],
    external: ["cloudflare:*"],
    plugins: options.nodejsCompat ? [browserModules, nodeBuiltins] : [browserModules],
    define: options.define,
    logLevel: "silent",
    legalComments: "none",
    // Smaller scripts start faster in workerd and upload faster; names are kept for readable stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error(`bundling ${absolute} produced no output`);
  const meta = Object.values(result.metafile.outputs)[0];
  const exports = [...(meta?.exports ?? [])].sort();
  writeCachedBuild(identity, result.metafile, workingDir(), { text: output.text, exports });
  return toBundle(output.text, exports);
}
