import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const REGISTER = path.join(__dirname, "register.cjs");
const scratch = mkdtempSync(path.join(tmpdir(), "wp-register-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `main` with the project's loader and a code cache of its own; answers stdout. */
function run(dir: string, main: string): string {
  const res = spawnSync(process.execPath, ["-r", REGISTER, path.join(dir, main)], {
    encoding: "utf8",
    env: { ...process.env, WORKERS_PLATFORM_CACHE_DIR: path.join(dir, "cache") },
  });
  expect(res.stderr).toBe("");
  expect(res.status).toBe(0);
  return res.stdout.trim();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the loader's V8 code cache", () => {
  it("is written on the first run and used on the next, with the same results", () => {
    const dir = mkdtempSync(path.join(scratch, "run-"));
    writeFileSync(path.join(dir, "main.ts"), 'import { add } from "./add";\nconsole.log(add(2, 3));\n');
    writeFileSync(path.join(dir, "add.js"), "exports.add = (a, b) => a + b;\n");
    expect(run(dir, "main.ts")).toBe("5");
    expect(readdirSync(path.join(dir, "cache", "v8"))).toHaveLength(1);
    expect(run(dir, "main.ts")).toBe("5");
  });

  it("runs a module's new code after it changed, even to a text of the same length", async () => {
    const dir = mkdtempSync(path.join(scratch, "edit-"));
    writeFileSync(path.join(dir, "main.js"), 'console.log(require("./value").value());\n');
    writeFileSync(path.join(dir, "value.js"), "exports.value = () => 1;\n");
    expect(run(dir, "main.js")).toBe("1");
    await sleep(20);
    writeFileSync(path.join(dir, "value.js"), "exports.value = () => 2;\n");
    expect(run(dir, "main.js")).toBe("2");
    expect(run(dir, "main.js")).toBe("2");
  });

  it("still runs from a damaged cache file, and replaces it", () => {
    const dir = mkdtempSync(path.join(scratch, "damaged-"));
    writeFileSync(path.join(dir, "main.js"), "console.log('ok');\n");
    expect(run(dir, "main.js")).toBe("ok");
    const [file] = readdirSync(path.join(dir, "cache", "v8"));
    writeFileSync(path.join(dir, "cache", "v8", file as string), "not a cache");
    expect(run(dir, "main.js")).toBe("ok");
    expect(run(dir, "main.js")).toBe("ok");
  });

  it("loads what Node loads its own way: a hashbang script, require and require.resolve, an ES module", () => {
    const dir = mkdtempSync(path.join(scratch, "kinds-"));
    writeFileSync(path.join(dir, "tool.js"), "#!/usr/bin/env node\nexports.name = 'tool';\n");
    writeFileSync(path.join(dir, "esm.mjs"), "export const kind = 'esm';\n");
    writeFileSync(
      path.join(dir, "main.js"),
      [
        "const tool = require('./tool');",
        "const same = require.resolve('./tool') === require.resolve.paths('./tool') && false;",
        "import('./esm.mjs').then((m) => console.log(tool.name, m.kind, require.main === module, same, __filename.endsWith('main.js')));",
      ].join("\n"),
    );
    for (let i = 0; i < 2; i++) expect(run(dir, "main.js")).toBe("tool esm true false true");
  });
});
