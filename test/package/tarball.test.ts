// The packed tarball of this repository: what it holds, and that npm would publish it as it is.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../components/package-root";
import { inPackTurn, removeAll, sharedTarball, tarballFiles } from "./packed";

let tarball: string;
let ownTarball = false;

beforeAll(async () => {
  ({ tarball, ownTarball } = await sharedTarball());
}, 300_000);

afterAll(() => {
  if (ownTarball) removeAll(path.dirname(tarball));
});

describe("the packed tarball", () => {
  it("holds the compiled components, the framework entry, the command and the Worker sources, and no tests", () => {
    const files = tarballFiles(tarball);
    for (const shipped of [
      "package.json",
      "README.md",
      "CHANGELOG.md",
      "dist/components/index.js",
      "dist/components/index.d.ts",
      "dist/framework/index.js",
      "dist/framework/index.d.ts",
      "dist/framework/package.json",
      "dist/local/cli.js",
      "dist/local/register.cjs",
      "dist/provider/index.js",
      "provider/PulumiPlugin.yaml",
      "provider/package.json",
      "provider/plugin.cjs",
      "provider/index.ts",
      "workers-src/builds/client/index.ts",
      "workers-src/builds/management/index.ts",
      "workers-src/builds/runner/cli.ts",
      "workers-src/builds/db/migrations/0001_builds.sql",
    ]) {
      expect(files).toContain(shipped);
    }
    const unwanted = files.filter((f) =>
      /(\.test\.|__snapshots__|^test\/|fixtures|^bench\/|^examples\/|^stacks\/|\.tgz$|(^|\/)testing\.ts$)/.test(
        f,
      ),
    );
    expect(unwanted).toEqual([]);
    // Sources of the components and tooling ship compiled, not as TypeScript.
    expect(files.filter((f) => /^(components|local)\//.test(f))).toEqual([]);
  });

  it("passes npm publish --dry-run with nothing corrected or missing", async () => {
    // dist/ as packed: no other package test file rebuilds it meanwhile.
    const result = await inPackTurn(() =>
      spawnSync("npm", ["publish", "--dry-run", "--ignore-scripts"], {
        cwd: packageRoot(),
        encoding: "utf8",
      }),
    );
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("+ workers-platform@");
    // The one warning a machine without an npm login gets; nothing about the package itself.
    const warnings = result.stderr
      .split("\n")
      .filter((l) => /npm (warn|error)/i.test(l) && !/requires you to be logged in/.test(l));
    expect(warnings).toEqual([]);
  });
});
