import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { removeTempFolders, tempFolders } from "../test/files";
import { buildWorkerBundle } from "./bundle";

const folder = tempFolders("bundle-cache-src-");
let cacheDir: string;

beforeEach(() => {
  cacheDir = mkdtempSync(path.join(tmpdir(), "bundle-cache-"));
  vi.stubEnv("WORKERS_PLATFORM_CACHE_DIR", cacheDir);
});
afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(cacheDir, { recursive: true, force: true });
});
afterAll(removeTempFolders);

const records = () =>
  readdirSync(path.join(cacheDir, "bundles")).map((f) => path.join(cacheDir, "bundles", f));

/**
 * Replaces the cached output's text by a marker: a build that answers the marker came from the cache, one
 * that answers real code was bundled again.
 */
function markCached(): string {
  const [file, ...others] = records();
  expect(others).toEqual([]);
  const record = JSON.parse(readFileSync(file as string, "utf8")) as { text: string };
  writeFileSync(file as string, JSON.stringify({ ...record, text: "// from the cache" }));
  return "// from the cache";
}

const WORKER = {
  "index.ts":
    'import { greeting } from "./greeting";\nexport default { fetch: () => new Response(greeting) };\n',
  "greeting.ts": 'export const greeting = "hello";\n',
};

describe("bundles cached on disk by the content of what they are built from", () => {
  it("a second build of an unchanged Worker comes from the cache, with the same exports", async () => {
    const dir = folder(WORKER);
    const cold = await buildWorkerBundle(path.join(dir, "index.ts"), { nodejsCompat: false });
    expect(cold.content).toContain("hello");
    const record = JSON.parse(readFileSync(records()[0] as string, "utf8")) as { inputs: object };
    expect(Object.keys(record.inputs).sort()).toEqual([
      path.join(dir, "greeting.ts"),
      path.join(dir, "index.ts"),
    ]);
    const warm = await buildWorkerBundle(path.join(dir, "index.ts"), { nodejsCompat: false });
    expect(warm).toEqual(cold);
    const marker = markCached();
    expect((await buildWorkerBundle(path.join(dir, "index.ts"), { nodejsCompat: false })).content).toBe(
      marker,
    );
  });

  it("a change to an imported file gives a new bundle", async () => {
    const dir = folder(WORKER);
    const entry = path.join(dir, "index.ts");
    const before = await buildWorkerBundle(entry, { nodejsCompat: false });
    markCached();
    folder({ "greeting.ts": 'export const greeting = "changed";\n' }, dir);
    const after = await buildWorkerBundle(entry, { nodejsCompat: false });
    expect(after.content).toContain("changed");
    expect(after.sha256).not.toBe(before.sha256);
    // And the new bundle is what the cache holds from now on.
    expect(await buildWorkerBundle(entry, { nodejsCompat: false })).toEqual(after);
  });

  it.each<[string, Record<string, string | null>]>([
    // esbuild resolves ./greeting to greeting.ts before greeting.js: the new file shadows the old one.
    [
      "a new file that an import now resolves to",
      { "src/greeting.ts": 'export const greeting = "shadow";\n' },
    ],
    ["a tsconfig.json appearing above the sources", { "tsconfig.json": "{}" }],
    ["a package.json appearing above the sources", { "package.json": '{ "sideEffects": false }' }],
  ])("%s makes the cached bundle stale", async (_name, change) => {
    const dir = folder({});
    mkdirSync(path.join(dir, "src"));
    folder(
      { "src/index.ts": WORKER["index.ts"], "src/greeting.js": 'export const greeting = "plain";\n' },
      dir,
    );
    const entry = path.join(dir, "src", "index.ts");
    await buildWorkerBundle(entry, { nodejsCompat: false });
    const marker = markCached();
    expect((await buildWorkerBundle(entry, { nodejsCompat: false })).content).toBe(marker);
    folder(change, dir);
    expect((await buildWorkerBundle(entry, { nodejsCompat: false })).content).not.toBe(marker);
  });

  it("other options are another build", async () => {
    const dir = folder(WORKER);
    const entry = path.join(dir, "index.ts");
    await buildWorkerBundle(entry, { nodejsCompat: false });
    const marker = markCached();
    const defined = await buildWorkerBundle(entry, { nodejsCompat: false, define: { "globalThis.X": "1" } });
    expect(defined.content).not.toBe(marker);
    expect(records()).toHaveLength(2);
  });

  it("a deleted import fails the build as without a cache, and a failed build is not cached", async () => {
    const dir = folder(WORKER);
    const entry = path.join(dir, "index.ts");
    await buildWorkerBundle(entry, { nodejsCompat: false });
    folder({ "greeting.ts": null }, dir);
    await expect(buildWorkerBundle(entry, { nodejsCompat: false })).rejects.toThrow(/greeting/);
    const fresh = folder({ "index.ts": 'import "./missing";\nexport default {};\n' });
    await expect(buildWorkerBundle(path.join(fresh, "index.ts"), { nodejsCompat: false })).rejects.toThrow(
      /missing/,
    );
    expect(records()).toHaveLength(1);
  });
});
