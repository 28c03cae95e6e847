import { describe, expect, it } from "vitest";
import { capture, find, shape } from "../test/mock-program";
import { KvNamespace } from "./kv";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

describe("KvNamespace", () => {
  it("registers one namespace named <project>-<stack>-<name>, unprotected by default", async () => {
    const resources = await capture(() => new KvNamespace("cache", { accountId: ACCOUNT }));
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::cache",
      "workers-platform:cloudflare:KvNamespace::cache",
    ]);
    const ns = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect(ns.inputs).toEqual({ accountId: ACCOUNT, title: "proj-test-cache" });
    expect([ns.protect, ns.retainOnDelete]).toEqual([false, false]);
    expect(ns.parent).toBe(find(resources, KvNamespace.TYPE, "cache").urn);
  });

  it("protects and retains the namespace when asked", async () => {
    const resources = await capture(() => new KvNamespace("cache", { accountId: ACCOUNT, protect: true }));
    const ns = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect([ns.protect, ns.retainOnDelete]).toEqual([true, true]);
  });

  it("transform.namespace adjusts the namespace's args and options", async () => {
    const resources = await capture(
      () =>
        new KvNamespace("cache", {
          accountId: ACCOUNT,
          transform: {
            namespace: (args, opts) => {
              opts.protect = true;
              return { ...args, title: "custom-title" };
            },
          },
        }),
    );
    expect(shape(resources)).toEqual([
      "cloudflare:index/workersKvNamespace:WorkersKvNamespace::cache",
      "workers-platform:cloudflare:KvNamespace::cache",
    ]);
    const ns = find(resources, "cloudflare:index/workersKvNamespace:WorkersKvNamespace", "cache");
    expect(ns.inputs).toEqual({ accountId: ACCOUNT, title: "custom-title" });
    expect(ns.protect).toBe(true);
  });
});
