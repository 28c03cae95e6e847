import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { workerVersion } from "../../test/worker-version";
import {
  CloudflareApiError,
  CloudflareStore,
  checkAccountId,
  checkModuleName,
  checkScriptName,
} from "./store";
import type { WorkerVersion } from "./types";

const ACCOUNT = "0123456789abcdef0123456789abcdef";

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "cf-store-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function refusal(fn: () => unknown): { status: number; code: number; message: string } | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof CloudflareApiError)
      return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  return undefined;
}

describe("names", () => {
  it.each([
    { name: "hello", ok: true },
    { name: "my-worker_2", ok: true },
    { name: "a".repeat(63), ok: true },
    { name: "a".repeat(64), ok: false },
    { name: "Hello", ok: false },
    { name: "hello.world", ok: false },
    { name: "", ok: false },
    { name: "../x", ok: false },
  ])("script name $name: $ok", ({ name, ok }) => {
    const refused = refusal(() => checkScriptName(name));
    if (ok) expect(refused).toBeUndefined();
    else
      expect(refused).toEqual({
        status: 400,
        code: 10016,
        message: `Worker name ${JSON.stringify(name)} is not valid: use lowercase letters (a-z), digits (0-9), "-" and "_", at most 63 characters`,
      });
  });

  it.each([
    { name: "index.js", ok: true },
    { name: "lib/util.js", ok: true },
    { name: "a/b/c.wasm", ok: true },
    { name: "..", ok: false },
    { name: "../x.js", ok: false },
    { name: "lib/../../x.js", ok: false },
    { name: "/abs.js", ok: false },
    { name: "", ok: false },
    { name: "lib//x.js", ok: false },
    { name: "lib/", ok: false },
    { name: "./x.js", ok: false },
    { name: "win\\x.js", ok: false },
  ])("module name $name: $ok", ({ name, ok }) => {
    const refused = refusal(() => checkModuleName(name));
    if (ok) expect(refused).toBeUndefined();
    else
      expect(refused).toMatchObject({
        status: 400,
        code: 10021,
        message: expect.stringContaining("is not valid"),
      });
  });

  it.each([
    { id: ACCOUNT, ok: true },
    { id: "local-dev_1", ok: true },
    { id: "a/b", ok: false },
    { id: "", ok: false },
    { id: "x".repeat(65), ok: false },
  ])("account id $id: $ok", ({ id, ok }) => {
    expect(refusal(() => checkAccountId(id))?.code).toBe(ok ? undefined : 7003);
  });
});

function version(store: CloudflareStore, id: string, number: number, modules = ["index.js"]): WorkerVersion {
  const written = store.writeModules(
    ACCOUNT,
    "hello",
    id,
    modules.map((name) => ({ name, type: "esm" as const, content: new TextEncoder().encode(`// ${name}`) })),
  );
  return workerVersion({
    id,
    accountId: ACCOUNT,
    scriptName: "hello",
    number,
    createdOn: new Date(0).toISOString(),
    modules: written,
    compatibilityDate: "2025-01-01",
  });
}
const upload = { etag: "e", migrations: null, startupTimeMs: 1 };
const ID1 = "00000000-0000-4000-8000-000000000001";
const ID2 = "00000000-0000-4000-8000-000000000002";

describe("CloudflareStore", () => {
  it("stores a version's modules under versions/<id>/modules, folders included, and lists versions newest first", () => {
    const store = new CloudflareStore(root);
    const v1 = version(store, ID1, 1, ["index.js", "lib/util.js"]);
    store.commitVersion(v1, upload);
    store.commitVersion(version(store, ID2, 2), upload);
    const dir = path.join(root, "accounts", ACCOUNT, "scripts", "hello", "versions", ID1);
    expect(v1.modules).toEqual([
      { name: "index.js", type: "esm", path: path.join(dir, "modules", "index.js") },
      { name: "lib/util.js", type: "esm", path: path.join(dir, "modules", "lib", "util.js") },
    ]);
    expect(readFileSync(path.join(dir, "modules", "lib", "util.js"), "utf8")).toBe("// lib/util.js");
    expect(JSON.parse(readFileSync(path.join(dir, "version.json"), "utf8"))).toEqual(v1);
    expect(store.versions(ACCOUNT, "hello").map((s) => s.version.number)).toEqual([2, 1]);
    expect(store.version(ACCOUNT, "hello", ID1)).toEqual({ version: v1, upload });
    expect(store.version(ACCOUNT, "hello", "not-a-uuid")).toBeUndefined();
  });

  it("refuses a module that would be both a file and a folder, or that comes twice", () => {
    const store = new CloudflareStore(root);
    expect(refusal(() => version(store, ID1, 1, ["index.js", "lib", "lib/x.js"]))?.message).toMatch(
      /module name "lib\/x.js" clashes with another module/,
    );
    expect(refusal(() => version(store, ID2, 1, ["index.js", "index.js"]))?.code).toBe(10021);
  });

  it("forgets a version that was written but not committed, on discard and on reopening", () => {
    const store = new CloudflareStore(root);
    version(store, ID1, 1);
    expect(store.versions(ACCOUNT, "hello")).toEqual([]);
    store.discardVersion(ACCOUNT, "hello", ID1);
    const versionsDir = path.join(root, "accounts", ACCOUNT, "scripts", "hello", "versions");
    expect(readdirSync(versionsDir)).toEqual([]);
    version(store, ID2, 1);
    new CloudflareStore(root);
    expect(readdirSync(versionsDir)).toEqual([]);
  });

  it("keeps scripts and KV namespaces across instances, and writes no temporary file beside them", () => {
    const store = new CloudflareStore(root);
    const record = store.newScript("hello", "2026-01-01T00:00:00.000Z");
    store.saveScript(ACCOUNT, record);
    const ns = store.createKvNamespace(ACCOUNT, "cache");
    expect(ns.id).toMatch(/^[0-9a-f]{32}$/);
    expect(refusal(() => store.createKvNamespace(ACCOUNT, "cache"))).toMatchObject({
      status: 400,
      code: 10014,
    });

    const reopened = new CloudflareStore(root);
    expect(reopened.accountIds()).toEqual([ACCOUNT]);
    expect(reopened.scriptNames(ACCOUNT)).toEqual(["hello"]);
    expect(reopened.script(ACCOUNT, "hello")).toEqual(record);
    expect(reopened.kvNamespaces(ACCOUNT)).toEqual([ns]);
    expect(readdirSync(path.join(root, "accounts", ACCOUNT)).sort()).toEqual([
      "kv-namespaces.json",
      "scripts",
    ]);
    expect(readdirSync(path.join(root, "accounts", ACCOUNT, "scripts", "hello"))).toEqual(["script.json"]);
  });

  it("lists only scripts that have a record, and removes a script with its versions", () => {
    const store = new CloudflareStore(root);
    mkdirSync(path.join(root, "accounts", ACCOUNT, "scripts", "stray"), { recursive: true });
    store.saveScript(ACCOUNT, store.newScript("hello", "2026-01-01T00:00:00.000Z"));
    store.commitVersion(version(store, ID1, 1), upload);
    expect(store.scriptNames(ACCOUNT)).toEqual(["hello"]);
    store.removeScript(ACCOUNT, "hello");
    expect(store.script(ACCOUNT, "hello")).toBeUndefined();
    expect(store.versions(ACCOUNT, "hello")).toEqual([]);
  });
});
