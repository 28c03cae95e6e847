import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cacheBaseFor, PACKAGE_NAME, packageRoot, siblingModule, workerSource } from "./package-root";

describe("cacheBaseFor", () => {
  it.each([
    ["a checkout", "/work/repo", "/work/repo/node_modules/.cache"],
    [
      "installed in a project",
      "/home/u/app/node_modules/workers-platform",
      "/home/u/app/node_modules/.cache",
    ],
    [
      "installed by pnpm, in its store below the project",
      "/home/u/app/node_modules/.pnpm/workers-platform@0.1.0/node_modules/workers-platform",
      "/home/u/app/node_modules/.cache",
    ],
    ["installed globally", "/usr/lib/node_modules/workers-platform", "/usr/lib/node_modules/.cache"],
    ["a folder at the root", "/node_modules/workers-platform", "/node_modules/.cache"],
  ])("%s", (_case, root, expected) => {
    expect(cacheBaseFor(root)).toBe(expected);
  });
});

describe("packageRoot", () => {
  it("is the folder of the package.json named workers-platform, where the Worker sources are", () => {
    const root = packageRoot();
    expect(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).name).toBe(PACKAGE_NAME);
    expect(existsSync(workerSource("builds", "client", "index.ts"))).toBe(true);
  });

  it("finds a module's TypeScript source beside it when there is one, else its compiled file", () => {
    expect(siblingModule(__dirname, "migration-runtime")).toBe(path.join(__dirname, "migration-runtime.ts"));
    expect(siblingModule("/nowhere", "migration-runtime")).toBe("/nowhere/migration-runtime.js");
  });
});
