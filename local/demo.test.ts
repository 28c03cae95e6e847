import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../test/cli";
import { workersDevSubdomain } from "./cloudflare-api/types";
import { installSeconds, runDemo, timeline } from "./demo";
import { DEMO_SCRIPT, githubSignature } from "./demo-site";
import { DEFAULT_DEV_ACCOUNT, devTokenSecretOf, signDevToken } from "./dev-token";
import { parseSse } from "./sse";
import { startLocalTarget } from "./target/runner";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A state folder PostgreSQL can enter when the tests run as root (it runs as its own user then). */
function stateDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "builds-demo-"));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return dir;
}

const runDemoCli = (...args: string[]) => runCli("local/demo-cli.ts", ...args);

/** The build's own lines as the demo prints them, in order. */
const streamed = (output: string) =>
  output
    .split("\n")
    .filter((l) => l.startsWith("  │ "))
    .map((l) => l.slice(4));

describe("npm run demo", () => {
  it("starts its own target, deploys the pushed Worker with wrangler, previews a branch, exits 0", async () => {
    const dir = stateDir();
    const res = await runDemoCli("--state-dir", dir);
    expect(res.status, `${res.stdout}\n${res.stderr}`).toBe(0);
    expect(res.stdout).toContain("no local target is running: starting one");
    const lines = streamed(res.stdout);
    // Two builds: the production push deployed, the branch uploaded as a version; npm ci before each.
    expect(lines.filter((l) => l.startsWith("$ "))).toEqual(
      expect.arrayContaining(["$ npm ci", "$ npx wrangler deploy", "$ npx wrangler versions upload"]),
    );
    expect(lines.filter((l) => /^Build succeeded/.test(l))).toHaveLength(2);
    const sub = workersDevSubdomain(DEFAULT_DEV_ACCOUNT);
    expect(res.stdout).toContain(`deployed: https://${DEMO_SCRIPT}.${sub}.workers.dev`);
    expect(res.stdout).toContain("  its answer: 200 hello from v1 (visit 1)");
    expect(res.stdout).toMatch(
      new RegExp(`preview: {4}https://[0-9a-f]{8}-${DEMO_SCRIPT}\\.${sub}\\.workers\\.dev\n`),
    );
    // The preview shares the production Worker's KV namespace, as on Cloudflare: the visits go on.
    expect(res.stdout).toMatch(/ {2}its answer: {9}200 hello from v2 on a feature branch \(visit 2\)\n/);
    expect(res.stdout).toContain("  its answer, as before: 200 hello from v1 (visit 3)");
    expect(res.stdout).toMatch(
      /npm ci: \d+\.\d s in the first build \(from the registry\), \d+\.\d s in the second \(from the build cache\)/,
    );
    expect(res.stdout.match(/outcome: success/g)).toHaveLength(2);
    expect(res.stdout).toMatch(
      /timeline: queued \d+\.\d s → initializing \d+\.\d s → running \d+\.\d s → stopped/,
    );
    expect(res.stdout).toContain("export TOKEN=$(npm run -s token)");
    // The build's token for the Cloudflare API stand-in is masked wherever it would show.
    expect(res.stdout).not.toMatch(/cfl_[A-Za-z0-9_-]{20}/);
    // Worker console output went to the target's log file, not between the demo's lines.
    expect(res.stdout).not.toContain("level: 'info'");
    expect(existsSync(path.join(dir, "demo", "target.log"))).toBe(true);
    // The target it started has stopped and released its lock; the repository stays for the user.
    expect(existsSync(path.join(dir, "target.lock"))).toBe(false);
    expect(existsSync(path.join(dir, "demo", "hello-worker", "origin.git"))).toBe(true);
  }, 300_000);

  it("uses a target that is already running, and names its Worker hello-worker-2 when hello-worker exists", async () => {
    const dir = stateDir();
    const target = await startLocalTarget({ stateDir: dir, log: () => {} });
    try {
      const api = Object.entries(target.workers).find(([n]) => n.endsWith("-builds-client"))?.[1] as string;
      const token = signDevToken(devTokenSecretOf(target.plan.services) as string, "demo-test");
      const taken = await fetch(`${api}/api/workers`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ name: "hello-worker" }),
      });
      expect(taken.status).toBe(201);

      const output: string[] = [];
      const result = await runDemo({ stateDir: dir, account: "demo-test", out: (l) => output.push(l) });
      const text = output.join("\n");
      expect(result).toMatchObject({ workerName: "hello-worker-2", outcome: "success" });
      expect(text).toContain(
        `using the local target already running (pid ${process.pid}): REST API at ${api}`,
      );
      expect(text).not.toContain("stopping the local target");
      expect(text).toContain(`export API=${api}`);
      expect(text).toContain("export TOKEN=$(npm run -s token -- --account demo-test)");
      // The script deployed is the one in the project's wrangler config, in the account's subdomain.
      expect(text).toContain(
        `deployed: https://${DEMO_SCRIPT}.${workersDevSubdomain("demo-test")}.workers.dev`,
      );

      // The target keeps serving, and the builds are the account's, as the follow-up commands show them.
      const builds = await fetch(`${api}/api/workers/hello-worker-2/builds`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      const body = (await builds.json()) as { result: { build_uuid: string; build_outcome: string }[] };
      expect(body.result).toEqual([
        expect.objectContaining({ build_uuid: result.buildUuid, build_outcome: "success" }),
        expect.objectContaining({ build_outcome: "success" }),
      ]);
      expect(target.cloudflareApi.deployed()).toHaveProperty(DEMO_SCRIPT);
    } finally {
      await target.stop();
    }
  }, 300_000);

  it.each([
    [["--account", "no spaces"], "--account must be 1 to 64 characters"],
    [["--bogus"], "Unknown option '--bogus'"],
  ])("refuses %j: exit 1, the reason on stderr, nothing on stdout", async (args, message) => {
    const res = await runDemoCli(...args);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(message);
  });
});

describe("parseSse", () => {
  it.each([
    ["one event", "event: log\ndata: {}\n\n", [{ event: "log", data: "{}" }], ""],
    ["an id", "event: log\ndata: a\nid: 7\n\n", [{ event: "log", data: "a", id: "7" }], ""],
    ["a keepalive comment", ": keepalive\n\nevent: done\ndata: x\n\n", [{ event: "done", data: "x" }], ""],
    [
      "an unfinished event",
      "event: log\ndata: a\n\nevent: log\nda",
      [{ event: "log", data: "a" }],
      "event: log\nda",
    ],
    ["CRLF line ends", "event: log\r\ndata: a\r\n\r\n", [{ event: "log", data: "a" }], ""],
    ["data on two lines", "data: a\ndata: b\n\n", [{ event: "message", data: "a\nb" }], ""],
    ["no space after the colon", "event:log\ndata:a:b\n\n", [{ event: "log", data: "a:b" }], ""],
  ])("reads %s", (_name, input, events, rest) => {
    expect(parseSse(input)).toEqual({ events, rest });
  });

  it("gives the same events whatever the chunk boundaries", () => {
    const text =
      "event: log\ndata: one\nid: 1\n\n: keepalive\n\nevent: log\ndata: two\n\nevent: done\ndata: {}\n\n";
    for (let cut = 0; cut <= text.length; cut++) {
      const first = parseSse(text.slice(0, cut));
      const second = parseSse(first.rest + text.slice(cut));
      expect([...first.events, ...second.events].map((e) => e.data)).toEqual(["one", "two", "{}"]);
      expect(second.rest).toBe("");
    }
  });
});

describe("timeline", () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
  it.each([
    [
      "every status",
      { created_at: at(0), initializing_at: at(250), running_at: at(1250), stopped_at: at(4000) },
      "queued 0.3 s → initializing 1.0 s → running 2.8 s → stopped (total 4.0 s)",
    ],
    [
      "a build cancelled while queued",
      { created_at: at(0), initializing_at: null, running_at: null, stopped_at: at(500) },
      "queued - → initializing - → running - → stopped (total 0.5 s)",
    ],
    [
      "a build still running",
      { created_at: at(0), initializing_at: at(100), running_at: at(200), stopped_at: null },
      "queued 0.1 s → initializing 0.1 s → running - → stopped (total -)",
    ],
  ])("%s", (_name, build, expected) => {
    expect(timeline(build)).toBe(expected);
  });
});

describe("installSeconds", () => {
  it.each([
    [
      "npm ci to the next command",
      [
        { line: "$ npm ci", ts: 1_000 },
        { line: "added 40 packages", ts: 9_000 },
        { line: "$ npx wrangler deploy", ts: 11_500 },
      ],
      10.5,
    ],
    [
      "npm install counts too",
      [
        { line: "$ npm install", ts: 0 },
        { line: "$ true", ts: 250 },
      ],
      0.25,
    ],
    ["no install step", [{ line: "$ npx wrangler deploy", ts: 0 }], undefined],
    [
      "an install that never ended",
      [
        { line: "$ npm ci", ts: 0 },
        { line: "npm error", ts: 5 },
      ],
      undefined,
    ],
    [
      "a line that only starts like it",
      [
        { line: "$ npm cinnamon", ts: 0 },
        { line: "$ x", ts: 5 },
      ],
      undefined,
    ],
  ])("%s", (_, entries, expected) => {
    expect(installSeconds(entries)).toBe(expected);
  });
});

describe("githubSignature", () => {
  it("matches GitHub's documented example delivery signature", () => {
    expect(githubSignature("It's a Secret to Everybody", "Hello, World!")).toBe(
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
  });
});
