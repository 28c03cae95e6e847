import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { describe, expect, it } from "vitest";
import { bundleWorker } from "./bundle";

const fixture = (name: string) => path.join(__dirname, "..", "test", "fixtures", "workers", name);

describe("bundleWorker", () => {
  it("bundles one ES module and lists its exports", async () => {
    const bundle = await bundleWorker(fixture("exports.ts"), { nodejsCompat: false });
    expect(bundle.exports).toEqual(["Alpha", "Beta", "default", "helper"]);
    expect(bundle.content).toMatch(/from\s*"cloudflare:workers"/);
    expect(bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.bytes).toBe(Buffer.byteLength(bundle.content));
  });

  it("is deterministic: the same entry gives the same hash", async () => {
    const a = await bundleWorker(fixture("exports.ts"), { nodejsCompat: false });
    const b = await bundleWorker(fixture("exports.ts"), { nodejsCompat: false, define: {} });
    expect(b.sha256).toBe(a.sha256);
  });

  it("keeps Node built-ins as node: imports with nodejs_compat, including CommonJS requires", async () => {
    const bundle = await bundleWorker(fixture("node-builtins.ts"), { nodejsCompat: true });
    expect(bundle.content).toMatch(/from\s*"node:events"/);
    expect(bundle.content).toMatch(/from\s*"node:buffer"/);
    expect(bundle.content).toMatch(/from\s*"node:util"/);
    expect(bundle.content).not.toMatch(/Dynamic require/);
    expect(bundle.content).not.toMatch(/\brequire\("util"\)/);
  });

  it("runs in workerd: the CommonJS require of a built-in resolves to workerd's module", async () => {
    const bundle = await bundleWorker(fixture("node-builtins.ts"), { nodejsCompat: true });
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: [{ type: "ESModule", path: "index.js", contents: bundle.content }],
        compatibilityDate: "2026-10-01",
        compatibilityFlags: ["nodejs_compat"],
      }),
    );
    try {
      const res = await mf.dispatchFetch("http://localhost/");
      expect(await res.json()).toEqual(["function", 1, "function"]);
    } finally {
      await mf.dispose();
    }
  });

  it("fails without nodejs_compat when the entry needs a built-in", async () => {
    await expect(bundleWorker(fixture("node-builtins.ts"), { nodejsCompat: false })).rejects.toThrow(
      /node:events|events/,
    );
  });

  it("rejects with esbuild's message naming the missing import", async () => {
    await expect(bundleWorker(fixture("broken.ts"), { nodejsCompat: false })).rejects.toThrow(
      /does-not-exist/,
    );
  });
});
