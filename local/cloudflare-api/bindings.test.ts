import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { workerVersion } from "../../test/worker-version";
import {
  DEFAULT_COMPATIBILITY_DATE,
  miniflareOptionsFor,
  REFUSED,
  scriptDataDir,
  type WorkerMiniflareOptions,
} from "./bindings";
import { type UploadBinding, UploadRefused, type VersionModule, type WorkerVersion } from "./types";

const dir = mkdtempSync(path.join(os.tmpdir(), "cf-bindings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, contents: string | Uint8Array): string {
  const p = path.join(dir, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, contents);
  return p;
}

const MAIN = "export default { fetch() { return new Response('hi') } }";
const mainModule: VersionModule = { name: "index.js", type: "esm", path: file("v/index.js", MAIN) };

const version = (over: Partial<WorkerVersion> = {}): WorkerVersion =>
  workerVersion({
    id: "0f1e2d3c-0000-4000-8000-000000000001",
    accountId: "acc1",
    scriptName: "hello",
    modules: [mainModule],
    ...over,
  });

const base = (over: Partial<WorkerMiniflareOptions> = {}): WorkerMiniflareOptions => ({
  name: "hello",
  modules: [{ type: "ESModule", path: "index.js", contents: MAIN }],
  compatibilityDate: "2025-06-01",
  compatibilityFlags: [],
  bindings: {},
  kvNamespaces: {},
  r2Buckets: {},
  d1Databases: {},
  durableObjects: {},
  outboundService: expect.any(Function),
  ...over,
});

describe("miniflareOptionsFor", () => {
  const cases: {
    name: string;
    version: WorkerVersion;
    dataDir?: string;
    keys?: Record<string, string>;
    expected: WorkerMiniflareOptions;
  }[] = [
    { name: "a single module, in memory", version: version(), expected: base() },
    {
      name: "no compatibility date: the default; flags kept",
      version: version({ compatibilityDate: undefined, compatibilityFlags: ["nodejs_compat"] }),
      expected: base({
        compatibilityDate: DEFAULT_COMPATIBILITY_DATE,
        compatibilityFlags: ["nodejs_compat"],
      }),
    },
    {
      name: "every module type, main first, source maps left out",
      version: version({
        mainModule: "index.js",
        modules: [
          { name: "lib/util.cjs", type: "commonjs", path: file("v/lib/util.cjs", "module.exports = 1;") },
          { name: "index.js.map", type: "sourcemap", path: file("v/index.js.map", "{}") },
          { name: "words.txt", type: "text", path: file("v/words.txt", "a b") },
          mainModule,
          { name: "blob.bin", type: "data", path: file("v/blob.bin", new Uint8Array([1, 2])) },
          { name: "m.wasm", type: "compiled-wasm", path: file("v/m.wasm", new Uint8Array([0, 97])) },
        ],
      }),
      expected: base({
        modules: [
          { type: "ESModule", path: "index.js", contents: MAIN },
          { type: "CommonJS", path: "lib/util.cjs", contents: "module.exports = 1;" },
          { type: "Text", path: "words.txt", contents: "a b" },
          { type: "Data", path: "blob.bin", contents: new Uint8Array([1, 2]) },
          { type: "CompiledWasm", path: "m.wasm", contents: new Uint8Array([0, 97]) },
        ],
      }),
    },
    {
      name: "vars, secrets, json, KV, R2, D1, own Durable Objects; data paths per account and script",
      dataDir: "/data",
      version: version({
        bindings: [
          { type: "plain_text", name: "GREETING", text: "hi" },
          { type: "plain_text", name: "EMPTY", text: "" },
          { type: "secret_text", name: "TOKEN", text: "s3cret" },
          { type: "json", name: "CONFIG", json: { a: [1, 2] } },
          { type: "kv_namespace", name: "KV", namespace_id: "ns-1" },
          { type: "r2_bucket", name: "BUCKET", bucket_name: "files" },
          { type: "d1", name: "DB", id: "db-1" },
          { type: "durable_object_namespace", name: "ROOMS", class_name: "Room" },
          { type: "durable_object_namespace", name: "OLD", class_name: "Legacy", script_name: "hello" },
        ],
        durableObjectClasses: [
          { className: "Room", sqlite: true },
          { className: "Legacy", sqlite: false },
        ],
      }),
      keys: { Room: "hello-Chamber" },
      expected: base({
        bindings: { GREETING: "hi", EMPTY: "", TOKEN: "s3cret", CONFIG: { a: [1, 2] } },
        kvNamespaces: { KV: "ns-1" },
        r2Buckets: { BUCKET: "files" },
        d1Databases: { DB: "db-1" },
        durableObjects: {
          ROOMS: { className: "Room", useSQLite: true, unsafeUniqueKey: "hello-Chamber" },
          OLD: { className: "Legacy", useSQLite: false, unsafeUniqueKey: "hello-Legacy" },
        },
        resourcePersistencePath: "/data/acc1/scripts/hello",
      }),
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(miniflareOptionsFor(c.version, c.dataDir, c.keys)).toEqual(c.expected);
    });
  }

  const refusals: { name: string; version: WorkerVersion; code: number; message: RegExp }[] = [
    {
      name: "another script's Durable Object class",
      version: version({
        bindings: [
          { type: "durable_object_namespace", name: "ROOMS", class_name: "Room", script_name: "chat" },
        ],
      }),
      code: REFUSED.binding,
      message: /binding ROOMS of type durable_object_namespace: class Room of another script \(chat\)/,
    },
    {
      name: "a Durable Object class no migration created",
      version: version({
        bindings: [{ type: "durable_object_namespace", name: "ROOMS", class_name: "Room" }],
      }),
      code: REFUSED.binding,
      message: /binding ROOMS of type durable_object_namespace: class Room was not created by a migration/,
    },
    ...["service", "queue", "analytics_engine", "browser", "ai", "hyperdrive", "no_such_type"].map(
      (type) => ({
        name: `a ${type} binding`,
        version: version({ bindings: [{ type, name: "B" } as UploadBinding] }),
        code: REFUSED.binding,
        message: new RegExp(`binding B of type ${type}: not supported`),
      }),
    ),
    {
      name: "a KV binding without a namespace id",
      version: version({ bindings: [{ type: "kv_namespace", name: "KV" } as UploadBinding] }),
      code: REFUSED.binding,
      message: /binding KV of type kv_namespace: "namespace_id" must be a non-empty string/,
    },
    {
      name: "a json binding without its value",
      version: version({ bindings: [{ type: "json", name: "CONFIG" } as UploadBinding] }),
      code: REFUSED.binding,
      message: /binding CONFIG of type json: "json" is missing/,
    },
    {
      name: "a module type it does not know",
      version: version({
        modules: [
          mainModule,
          { name: "x.py", type: "python" as VersionModule["type"], path: mainModule.path },
        ],
      }),
      code: REFUSED.module,
      message: /module x.py has type "python"/,
    },
    {
      name: "a main module that is not uploaded",
      version: version({ mainModule: "worker.js" }),
      code: REFUSED.module,
      message: /main module worker.js is not among the uploaded modules/,
    },
    {
      name: "a module name that climbs out",
      version: version({ modules: [mainModule, { name: "../x.js", type: "esm", path: mainModule.path }] }),
      code: REFUSED.module,
      message: /module name "..\/x.js"/,
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}`, () => {
      let caught: unknown;
      try {
        miniflareOptionsFor(r.version, "/data");
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(UploadRefused);
      expect((caught as UploadRefused).code).toBe(r.code);
      expect((caught as UploadRefused).message).toMatch(r.message);
    });
  }

  it("keeps account ids and script names from climbing out of the data folder", () => {
    expect(scriptDataDir("/data", "..", "a/b")).toBe("/data/%2E%2E/scripts/a%2Fb");
  });
});
