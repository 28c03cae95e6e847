import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hasFiles, saveCache } from "./cache";
import { startProcess } from "./process";
import { tempDir } from "./testing";

const work = tempDir("runner-cache-");
afterAll(() => work.remove());

describe("saveCache", () => {
  it("stops tar at the archive's size limit, so a build cannot fill the runner's disk through its cache", async () => {
    const cacheDir = path.join(work.dir, "cache");
    mkdirSync(cacheDir);
    // Random bytes do not compress: the archive would be about 2 MiB.
    writeFileSync(path.join(cacheDir, "blob"), randomBytes(2 * 1024 * 1024));
    const archive = path.join(work.dir, "cache.tar.gz");
    const log: string[] = [];
    const uploads: string[] = [];
    await saveCache({
      client: {
        downloadCache: async () => false,
        uploadCache: async (file) => {
          uploads.push(file);
        },
      },
      cacheDir,
      hostCacheDir: cacheDir,
      input: () => ({ hostFile: archive, sandboxFile: archive, access: {} }),
      output: () => ({ hostFile: archive, sandboxFile: archive, access: {} }),
      exec: (argv, cwd) =>
        startProcess({ argv, cwd, env: { PATH: "/usr/bin:/bin" }, onLine: (l) => log.push(l) }).done,
      log: (line) => log.push(line),
      maxArchiveBytes: 256 * 1024,
    });
    expect(uploads).toEqual([]);
    expect(log.at(-1)).toMatch(
      /^Warning: could not save the build cache: tar -czf failed \(.+\); an archive over 256\.0 KiB is not saved$/,
    );
    expect(existsSync(archive)).toBe(false);
  });
});

describe("hasFiles", () => {
  it("counts a file or a link as content, follows no link, and stops a walk through endless empty folders", () => {
    const dir = path.join(work.dir, "walk");
    mkdirSync(path.join(dir, "a", "b"), { recursive: true });
    expect(hasFiles(dir)).toBe(false);
    symlinkSync("/etc", path.join(dir, "a", "b", "link"));
    expect(hasFiles(dir)).toBe(true);
    const deep = path.join(work.dir, "deep");
    for (let i = 0; i < 30; i++) mkdirSync(path.join(deep, `d${i}`, "x"), { recursive: true });
    expect(hasFiles(deep, { entries: 10 })).toBe(true);
    expect(hasFiles(deep)).toBe(false);
    expect(hasFiles(path.join(dir, "a", "b", "link"))).toBe(false);
  });
});
