// Importing the package does no work: no bundling, no file read. Work happens when a program creates
// resources (a Worker bundles its entry, a framework app reads its lock file, a migrations resource
// bundles its runtime), never because a module was loaded.
import { afterEach, expect, it, vi } from "vitest";

afterEach(() => {
  vi.doUnmock("esbuild");
  vi.doUnmock("node:fs");
  vi.resetModules();
});

it("importing the public API, the KV component and the repository's program runs no esbuild and reads no file", async () => {
  const calls: string[] = [];
  const counted =
    <F extends (...args: never[]) => unknown>(name: string, f: F) =>
    (...args: Parameters<F>) => {
      calls.push(`${name} ${String(args[0] && typeof args[0] === "object" ? "{…}" : args[0])}`);
      return f(...args) as ReturnType<F>;
    };
  vi.doMock("esbuild", async (importOriginal) => {
    const actual = await importOriginal<typeof import("esbuild")>();
    return {
      ...actual,
      build: counted("esbuild.build", actual.build),
      buildSync: counted("esbuild.buildSync", actual.buildSync),
    };
  });
  vi.doMock("node:fs", async (importOriginal) => {
    const actual = await importOriginal<typeof import("node:fs")>();
    const fs = {
      ...actual,
      readFileSync: counted("readFileSync", actual.readFileSync),
      readdirSync: counted("readdirSync", actual.readdirSync),
      existsSync: counted("existsSync", actual.existsSync),
      statSync: counted("statSync", actual.statSync),
    };
    return { ...fs, default: fs };
  });
  vi.resetModules();
  await import("./index");
  await import("./kv");
  await import("../stacks/program");
  expect(calls).toEqual([]);
});
