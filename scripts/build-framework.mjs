#!/usr/bin/env node
// Builds the `workers-platform/framework` entry: ES modules and .d.ts files from workers-src/framework,
// compiled by tsc with workers-src/framework/tsconfig.build.json.
//
//   node scripts/build-framework.mjs [outDir]    outDir defaults to dist/framework in the package root
//
// The folder gets a package.json of {"type":"module"}, so that Node and TypeScript's node16 resolution
// read its .js and .d.ts files as ES modules whatever the package's own `type` is. Then every import in the
// output is checked, since tsc with bundler resolution accepts what a Node ES module cannot load: a
// relative import must name a file of the output, and a bare one must be a `cloudflare:` module or a
// (peer) dependency of the package (never a Node built-in: the framework runs in workerd). Exits 1 on any
// failure, leaving no output behind.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const tsconfig = path.join(root, "workers-src", "framework", "tsconfig.build.json");
const MODULE_PACKAGE_JSON = `${JSON.stringify({ type: "module" }, null, 2)}\n`;

function fail(message) {
  console.error(`build-framework: ${message}`);
  process.exit(1);
}

function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Empties `outDir` of an earlier build; anything else there is refused rather than deleted. */
function prepare(outDir) {
  if (!existsSync(outDir) || readdirSync(outDir).length === 0) return;
  const marker = path.join(outDir, "package.json");
  if (!existsSync(marker) || readFileSync(marker, "utf8") !== MODULE_PACKAGE_JSON) {
    fail(`${outDir} holds files that are not an earlier framework build: remove it or choose another folder`);
  }
  rmSync(outDir, { recursive: true });
}

function compile(outDir) {
  const tsc = createRequire(path.join(root, "package.json")).resolve("typescript/bin/tsc");
  const result = spawnSync(process.execPath, [tsc, "-p", tsconfig, "--outDir", outDir], {
    cwd: root,
    stdio: "inherit",
  });
  if (result.error) fail(`could not run tsc (${result.error.message})`);
  if (result.status !== 0) fail(`tsc -p ${path.relative(root, tsconfig)} failed (exit ${result.status})`);
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g;

/** Every import of the output that Node (as an ES module) or workerd could not load, one line each. */
function unloadableImports(outDir) {
  const manifest = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const installed = { ...manifest.dependencies, ...manifest.peerDependencies };
  const problems = [];
  for (const file of filesUnder(outDir).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))) {
    const text = readFileSync(file, "utf8");
    const where = path.relative(outDir, file);
    for (const [, specifier] of text.matchAll(SPECIFIER)) {
      if (specifier.startsWith(".")) {
        if (!existsSync(path.resolve(path.dirname(file), specifier))) {
          problems.push(
            `${where}: "${specifier}" is not a file of the output (a relative import needs ".js")`,
          );
        }
        continue;
      }
      if (specifier.startsWith("cloudflare:")) continue;
      const name = specifier.startsWith("@")
        ? specifier.split("/").slice(0, 2).join("/")
        : specifier.split("/")[0];
      if (!Object.hasOwn(installed, name)) {
        problems.push(
          `${where}: "${specifier}" is neither a cloudflare: module nor a dependency of the package`,
        );
      }
    }
  }
  return problems;
}

const outDir = path.resolve(process.argv[2] ?? path.join(root, "dist", "framework"));
prepare(outDir);
mkdirSync(outDir, { recursive: true });
compile(outDir);
writeFileSync(path.join(outDir, "package.json"), MODULE_PACKAGE_JSON);
const problems = unloadableImports(outDir);
if (problems.length > 0) {
  rmSync(outDir, { recursive: true });
  fail(`imports the framework cannot ship with:\n  ${problems.join("\n  ")}`);
}
const shown = path.relative(process.cwd(), outDir);
console.error(`build-framework: wrote ${shown === "" || shown.startsWith("..") ? outDir : shown}`);
