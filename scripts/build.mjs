#!/usr/bin/env node
// Builds what the npm package ships under dist/ (run by `npm run build`, and by `prepack` before
// `npm pack` and `npm publish`):
//   dist/components, dist/local, dist/workers-src/...  CommonJS and .d.ts from tsconfig.build.json: the
//                                                      components (the package's root export) and the
//                                                      local tooling behind the `workers-platform` command;
//   dist/local/register.cjs                            the loader that command runs TypeScript programs with;
//   dist/framework                                     the `workers-platform/framework` entry (ES modules,
//                                                      scripts/build-framework.mjs).
// The Worker sources the compositions bundle at program time ship as TypeScript in workers-src/.
// Exits 1 on the first failure.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");

function run(what, args) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`build: ${what} failed (exit ${result.status ?? result.error?.message})`);
    process.exit(1);
  }
}

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(path.join(root, "package.json")).resolve("typescript/bin/tsc");
run("tsc -p tsconfig.build.json", [tsc, "-p", "tsconfig.build.json"]);
copyFileSync(path.join(root, "local", "register.cjs"), path.join(dist, "local", "register.cjs"));
const cli = path.join(dist, "local", "cli.js");
if (!readFileSync(cli, "utf8").startsWith("#!/usr/bin/env node")) {
  console.error("build: dist/local/cli.js does not start with its #! line");
  process.exit(1);
}
chmodSync(cli, 0o755);
run("the framework entry", [path.join(root, "scripts", "build-framework.mjs"), path.join(dist, "framework")]);
