import { afterAll, describe, expect, it } from "vitest";
import {
  LineSplitter,
  type OutputStream,
  runCollect,
  shellArgv,
  startProcess,
  truncateUtf8,
} from "./process";
import { processAlive, tempDir } from "./testing";

const work = tempDir("runner-process-");
afterAll(() => work.remove());
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" };

describe("LineSplitter", () => {
  const cases: { name: string; chunks: string[]; max?: number; expected: string[] }[] = [
    { name: "lines ending in \\n", chunks: ["a\nb\n"], expected: ["a", "b"] },
    { name: "\\r\\n endings", chunks: ["a\r\nb\r\n"], expected: ["a", "b"] },
    { name: "a line split over chunks", chunks: ["he", "llo\nwor", "ld\n"], expected: ["hello", "world"] },
    { name: "\\r\\n split between chunks", chunks: ["a\r", "\nb\n"], expected: ["a", "b"] },
    { name: "a last line without an ending", chunks: ["a\nlast"], expected: ["a", "last"] },
    { name: "empty lines are kept", chunks: ["\n\nx\n"], expected: ["", "", "x"] },
    { name: "a \\r inside a line is kept", chunks: ["50%\r100%\n"], expected: ["50%\r100%"] },
    { name: "a long line is cut", chunks: ["abcdefgh\nok\n"], max: 5, expected: ["abcde", "ok"] },
    {
      name: "a long line over many chunks",
      chunks: ["abc", "def", "ghi", "\nz"],
      max: 4,
      expected: ["abcd", "z"],
    },
    { name: "a \\r\\n right at the limit", chunks: ["abcd\r\n"], max: 4, expected: ["abcd"] },
    { name: "a cut never splits a character", chunks: ["aé€\n"], max: 4, expected: ["aé"] },
  ];
  it.each(cases)("$name", ({ chunks, max, expected }) => {
    const lines: string[] = [];
    const splitter = new LineSplitter(max ?? 1000, (line) => lines.push(line));
    for (const chunk of chunks) splitter.push(Buffer.from(chunk));
    splitter.end();
    expect(lines).toEqual(expected);
  });
});

describe("truncateUtf8", () => {
  it("cuts at a byte limit without splitting characters", () => {
    expect(truncateUtf8("hello", 10)).toBe("hello");
    expect(truncateUtf8("hello", 3)).toBe("hel");
    expect(truncateUtf8("🔑🔑", 6)).toBe("🔑");
    expect(Buffer.byteLength(truncateUtf8("é".repeat(10_000), 8191))).toBe(8190);
  });
});

describe("startProcess", () => {
  it("streams stdout and stderr line by line and resolves with the exit code", async () => {
    const lines: [OutputStream, string][] = [];
    const child = startProcess({
      argv: shellArgv("echo one; echo two >&2; printf 'no newline'; exit 3"),
      cwd: work.dir,
      env,
      onLine: (line, stream) => lines.push([stream, line]),
    });
    expect(await child.done).toEqual({ code: 3, signal: null });
    expect(lines).toContainEqual(["stdout", "one"]);
    expect(lines).toContainEqual(["stderr", "two"]);
    expect(lines).toContainEqual(["stdout", "no newline"]);
  });

  it("passes exactly the given environment and working folder", async () => {
    const result = await runCollect(shellArgv('echo "$FOO|$HOME|$(pwd)"'), {
      cwd: work.dir,
      env: { ...env, FOO: "bar" },
    });
    expect(result.stdout).toEqual([`bar||${work.dir}`]);
  });

  it("rejects when the program does not exist", async () => {
    await expect(
      startProcess({ argv: ["/nonexistent/program"], cwd: work.dir, env, onLine: () => {} }).done,
    ).rejects.toThrow(/ENOENT/);
  });

  it("kill() ends the whole process tree, also children that ignore SIGTERM", async () => {
    const lines: string[] = [];
    const child = startProcess({
      argv: shellArgv(`(trap '' TERM; sleep 1000) & echo "child=$!"; sleep 1000 & echo "child=$!"; wait`),
      cwd: work.dir,
      env,
      onLine: (line) => lines.push(line),
      killGraceMs: 300,
    });
    while (lines.filter((line) => line.startsWith("child=")).length < 2) await sleep(20);
    const pids = lines.map((line) => Number(line.slice("child=".length)));
    for (const pid of pids) expect(processAlive(pid)).toBe(true);
    child.kill();
    const result = await child.done;
    expect(result.signal).toBe("SIGTERM");
    await waitUntil(() => pids.every((pid) => !processAlive(pid)));
  });

  it("kills what a finished command left running in the background", async () => {
    const result = await runCollect(shellArgv("sleep 1000 & echo $!"), { cwd: work.dir, env });
    expect(result.code).toBe(0);
    const pid = Number(result.stdout[0]);
    await waitUntil(() => !processAlive(pid));
  });
});

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(20);
  }
}
