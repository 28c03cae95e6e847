// The `workers-platform/framework` entry as a Worker project gets it from npm: built by
// scripts/build-framework.mjs into a consumer's node_modules/workers-platform beside the package's exports
// map, type-checked there under bundler and node16 resolution, bundled for workerd and run in Miniflare.
import { execFile } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as esbuild from "esbuild";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..", "..");
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");

/** The entry of the package's exports map that the package's package.json carries. */
const FRAMEWORK_EXPORT = {
  types: "./dist/framework/index.d.ts",
  import: "./dist/framework/index.js",
  default: "./dist/framework/index.js",
};

/** A Worker on the framework: a router, a Durable Object with a durable store, chained KV writes. */
const WORKER = `import { DurableObject } from "cloudflare:workers";
import * as z from "zod";
import {
  chain,
  type DurableStore,
  durableStore,
  HttpError,
  KvWriter,
  kvStore,
  type ObjectCall,
  router,
  toObject,
} from "workers-platform/framework";

export { KvWriter };

export interface Env {
  NOTES: KVNamespace;
  KV_WRITER: DurableObjectNamespace<KvWriter>;
  COUNTERS: DurableObjectNamespace<Counter>;
}

export interface Note {
  text: string;
  at: Date;
}
export type Notes = { notes: Record<string, Note> };

export class Counter extends DurableObject<Env> {
  private readonly store: DurableStore<number>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = durableStore<number>(ctx.storage, { prefix: "hits/" });
  }

  async hit(call: ObjectCall<{ name: string }>): Promise<{ name: string; count: number | undefined }> {
    return { name: call.params.name, count: await this.store.update("count", (n) => (n ?? 0) + 1) };
  }

  override async alarm(): Promise<void> {
    await this.store.alarm();
  }
}

const notes = (env: Env) =>
  kvStore<Notes["notes"]>(env.NOTES, { writer: { namespace: env.KV_WRITER, binding: "NOTES" } });

const app = router<Env>();
app.get("/counters/:name", toObject((env: Env) => env.COUNTERS, { by: "name", param: "name" }, "hit"));
app.put("/notes/:id", { body: z.object({ text: z.string().min(1) }) }, async (ctx) => {
  const store = notes(ctx.env);
  await chain<Notes>(store).notes.at(ctx.params.id).set({ text: ctx.body.text, at: new Date(0) });
  const { value, version } = await store.getWithVersion("notes", { consistent: true });
  return { note: value?.[ctx.params.id], version };
});
app.get("/teapot", () => {
  throw new HttpError(418, "short and stout");
});

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
`;

/** Type errors the framework's types must catch: each would pass if they resolved to `any`. */
const BROKEN = `import { chain, kvStore, router, toObject } from "workers-platform/framework";
import type { Env, Notes } from "./worker.js";

const app = router<Env>();
app.get("/a/:name", (ctx) => ctx.params.nmae);
app.get("/b/:name", toObject((env: Env) => env.COUNTERS, { by: "name", param: "name" }, "hti"));
export const wrong = (env: Env) => chain<Notes>(kvStore(env.NOTES)).notes.at("n").set({ text: 1, at: new Date() });
`;

const EXPECTED_ERRORS = [
  /^broken\.ts\(5,\d+\): error TS2339: Property 'nmae' does not exist on type 'PathParams<"\/a\/:name">'/,
  /^broken\.ts\(6,\d+\): error TS2345: Argument of type '"hti"' is not assignable to parameter of type 'CallableMethods<Counter>'/,
  /^broken\.ts\(7,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/,
];

const RESOLUTIONS = {
  bundler: { module: "ESNext", moduleResolution: "bundler" },
  node16: { module: "node16", moduleResolution: "node16" },
};

/**
 * A consumer's tsconfig. The clean check has skipLibCheck off, so that the shipped .d.ts files are checked
 * too; the check of the broken file leaves the libraries to it rather than check them twice.
 */
function tsconfig(resolution: keyof typeof RESOLUTIONS, files: string[], skipLibCheck = false): string {
  const compilerOptions = {
    ...RESOLUTIONS[resolution],
    target: "ES2022",
    lib: ["ES2023"],
    types: ["@cloudflare/workers-types/2023-07-01"],
    strict: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    skipLibCheck,
    noEmit: true,
  };
  return JSON.stringify({ compilerOptions, files }, null, 2);
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

function run(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, encoding: "utf8" }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

let consumer: string;
let dist: string;
let mf: Miniflare | undefined;

beforeAll(async () => {
  consumer = mkdtempSync(path.join(tmpdir(), "framework-entry-"));
  const installed = path.join(consumer, "node_modules", "workers-platform");
  dist = path.join(installed, "dist", "framework");
  writeFiles(consumer, {
    // The consumer is an ES module package, as node16 resolution needs for an ES-only import.
    "package.json": JSON.stringify({ name: "consumer", private: true, type: "module" }),
    "worker.ts": WORKER,
    "broken.ts": BROKEN,
    "tsconfig.bundler.json": tsconfig("bundler", ["worker.ts"]),
    "tsconfig.bundler-broken.json": tsconfig("bundler", ["worker.ts", "broken.ts"], true),
    "tsconfig.node16.json": tsconfig("node16", ["worker.ts"]),
    "tsconfig.node16-broken.json": tsconfig("node16", ["worker.ts", "broken.ts"], true),
    // No `type`, as the package's own package.json: dist/framework's package.json makes it ESM.
    "node_modules/workers-platform/package.json": JSON.stringify({
      name: "workers-platform",
      version: "0.0.0",
      exports: { "./framework": FRAMEWORK_EXPORT },
    }),
  });
  mkdirSync(path.join(consumer, "node_modules", "@cloudflare"));
  for (const dependency of ["zod", "@cloudflare/workers-types"]) {
    symlinkSync(path.join(ROOT, "node_modules", dependency), path.join(consumer, "node_modules", dependency));
  }
  const build = await run([path.join(ROOT, "scripts", "build-framework.mjs"), dist], ROOT);
  if (build.code !== 0) throw new Error(`scripts/build-framework.mjs failed:\n${build.output}`);
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  if (consumer) rmSync(consumer, { recursive: true, force: true });
});

let bundled: Promise<esbuild.BuildResult<{ metafile: true; write: false }>> | undefined;

/** The consumer's Worker bundled as a Worker project bundles it for workerd. */
function bundle() {
  bundled ??= esbuild.build({
    entryPoints: [path.join(consumer, "worker.ts")],
    absWorkingDir: consumer,
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["workerd", "worker", "browser", "module", "main"],
    external: ["cloudflare:*"],
    logLevel: "silent",
  });
  return bundled;
}

describe("workers-platform/framework, installed", () => {
  it("is ES modules and .d.ts files under a type:module package.json, using neither Node modules nor globals", () => {
    expect(JSON.parse(readFileSync(path.join(dist, "package.json"), "utf8"))).toEqual({ type: "module" });
    const files = readdirSync(dist, { recursive: true, encoding: "utf8" });
    expect(files).toEqual(expect.arrayContaining(["index.js", "index.d.ts"]));
    const scripts = files.filter((file) => file.endsWith(".js"));
    expect(scripts.length).toBeGreaterThan(5);
    for (const file of scripts) {
      const text = readFileSync(path.join(dist, file), "utf8");
      expect(text, file).not.toMatch(/["']node:/);
      expect(text, file).not.toMatch(/\brequire\s*\(/);
      expect(text, file).not.toMatch(/\bprocess\s*\./);
      expect(text, file).not.toMatch(/\bBuffer\b/);
    }
  });

  // tsc takes seconds of CPU per run: the four run at once, and get time to spare on a busy machine.
  it.concurrent.for(["bundler", "node16"] as const)(
    "type-checks a Worker with moduleResolution %s, and reports its type errors",
    { timeout: 60_000 },
    async (resolution, { expect }) => {
      const [clean, broken] = await Promise.all([
        run([TSC, "-p", `tsconfig.${resolution}.json`], consumer),
        run([TSC, "-p", `tsconfig.${resolution}-broken.json`], consumer),
      ]);
      expect(clean.output).toBe("");
      expect(clean.code).toBe(0);
      expect(broken.code).not.toBe(0);
      // Only the deliberate errors, each found through the framework's types: none in the Worker.
      const errors = broken.output.split("\n").filter((line) => /error TS\d+/.test(line));
      expect(errors).toHaveLength(EXPECTED_ERRORS.length);
      for (const [i, pattern] of EXPECTED_ERRORS.entries()) expect(errors[i]).toMatch(pattern);
    },
  );

  it("bundles for workerd through the exports map, importing nothing but cloudflare: modules", async () => {
    const result = await bundle();
    expect(Object.keys(result.metafile.inputs)).toContain(
      "node_modules/workers-platform/dist/framework/index.js",
    );
    const [output] = Object.values(result.metafile.outputs);
    const imports = output?.imports.map((i) => i.path) ?? [];
    expect(imports.length).toBeGreaterThan(0);
    for (const imported of imports) expect(imported).toMatch(/^cloudflare:/);
    const text = result.outputFiles[0]?.text ?? "";
    expect(text).not.toMatch(/["']node:/);
    expect(text).not.toMatch(/\brequire\s*\(/);
  });

  it("runs in workerd without nodejs_compat: routes, a Durable Object over RPC and KV writes through KvWriter", async () => {
    const content = (await bundle()).outputFiles[0]?.text ?? "";
    mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: [{ type: "ESModule", path: "worker.js", contents: content }],
        compatibilityDate: "2026-10-01",
        compatibilityFlags: [],
        kvNamespaces: ["NOTES"],
        durableObjects: {
          COUNTERS: { className: "Counter", useSQLite: true },
          KV_WRITER: { className: "KvWriter", useSQLite: true },
        },
      }),
    );
    const call = async (method: string, route: string, body?: unknown) => {
      const res = await mf!.dispatchFetch(`http://localhost${route}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: await res.json() };
    };

    expect(await call("GET", "/counters/ada")).toEqual({ status: 200, body: { name: "ada", count: 1 } });
    expect(await call("GET", "/counters/ada")).toEqual({ status: 200, body: { name: "ada", count: 2 } });
    expect(await call("PUT", "/notes/n1", { text: "hello" })).toEqual({
      status: 200,
      body: { note: { text: "hello", at: "1970-01-01T00:00:00.000Z" }, version: 1 },
    });
    expect(await call("PUT", "/notes/n2", { text: "again" })).toMatchObject({ body: { version: 2 } });
    expect(await call("PUT", "/notes/n3", { text: "" })).toMatchObject({ status: 400 });
    expect(await call("GET", "/teapot")).toEqual({ status: 418, body: { error: "short and stout" } });
  });
});
