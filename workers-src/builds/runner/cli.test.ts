/**
 * The runner's command line: it isolates builds where the host can, refuses to start where it cannot
 * (exit 2, saying why and what to do), and runs unisolated only with a flag that says so, warning at start.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../local/stack-file";
import { tempDir } from "./testing";

const CLI = path.join(__dirname, "cli.ts");
const work = tempDir("runner-cli-");
const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) child.kill("SIGKILL");
});
afterAll(() => work.remove());

/**
 * Starts the runner; `withoutCapabilities` runs it as root with every capability dropped, which is a host
 * where namespaces cannot be made. Resolves once it listens or exits.
 */
function start(args: string[], options: { withoutCapabilities?: boolean } = {}) {
  const node = [process.execPath, "-r", "./local/register.cjs", CLI, "--port", "0", ...args];
  const argv = options.withoutCapabilities
    ? ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", ...node]
    : node;
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: REPO_ROOT,
    env: { ...process.env, RUNNER_TOKEN: "cli-test-token-0123456789abcdef" },
  });
  running.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  return new Promise<{
    child: ChildProcess;
    code: number | null;
    stdout: string;
    stderr: string;
    url?: string;
  }>((resolve) => {
    const check = setInterval(() => {
      const url = /runner listening on (\S+)/.exec(stdout)?.[1];
      if (url) {
        clearInterval(check);
        resolve({ child, code: null, stdout, stderr, url });
      }
    }, 20);
    child.on("exit", (code) => {
      clearInterval(check);
      resolve({ child, code, stdout, stderr });
    });
  });
}

describe("runner cli", () => {
  it("isolates builds on a host that can, saying so at start, and stops cleanly on SIGTERM, taking its network filter with it", async () => {
    const uidBase = 6_000_000 + Math.floor(Math.random() * 10_000) * 100;
    const table = () => {
      try {
        return execFileSync("nft", ["list", "table", "inet", `workers_builds_${uidBase}`], {
          stdio: "pipe",
        }).toString();
      } catch {
        return undefined;
      }
    };
    const runner = await start([
      "--work-root",
      path.join(work.dir, "isolated"),
      "--uid-base",
      String(uidBase),
      "--uid-count",
      "10",
    ]);
    expect(table()).toContain(`meta skuid ${uidBase}`);
    expect(runner.url).toBeDefined();
    expect(runner.stdout).toMatch(/runner: builds isolated: namespaces, an own uid/);
    const health = await (await fetch(`${runner.url}/health`)).json();
    expect(health).toMatchObject({ ok: true, isolated: true });
    const exited = new Promise((resolve) => runner.child.once("exit", resolve));
    runner.child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(table()).toBeUndefined();
  });

  it("stopped while it starts (its network filter already installed), it exits once started, taking the filter with it", async () => {
    /**
     * One try: the signal is sent as soon as the filter appears. On a loaded machine the runner may get
     * through the rest of its start before the signal lands; then it stops as a started runner does.
     * Either way it exits 0 and takes its filter with it.
     */
    const attempt = async (n: number) => {
      const uidBase = 6_000_000 + Math.floor(Math.random() * 10_000) * 100;
      const table = () => {
        try {
          return execFileSync("nft", ["list", "table", "inet", `workers_builds_${uidBase}`], {
            stdio: "pipe",
          });
        } catch {
          return undefined;
        }
      };
      const child = spawn(
        process.execPath,
        [
          "-r",
          "./local/register.cjs",
          CLI,
          "--port",
          "0",
          "--work-root",
          path.join(work.dir, `stopped-early-${n}`),
        ].concat(["--uid-base", String(uidBase), "--uid-count", "10"]),
        { cwd: REPO_ROOT, env: { ...process.env, RUNNER_TOKEN: "cli-test-token-0123456789abcdef" } },
      );
      running.push(child);
      let stdout = "";
      child.stdout?.on("data", (d) => {
        stdout += d;
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      // The filter is installed early in the sandbox's checks: the signal comes while they still run.
      const deadline = Date.now() + 20_000;
      while (table() === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(table()).toBeUndefined();
      return stdout;
    };
    // The window is short: tried until the signal lands in it (at most five times).
    let stdout = "";
    for (let n = 0; n < 5 && !stdout.includes("while starting"); n++) stdout = await attempt(n);
    expect(stdout).toContain("runner: SIGTERM while starting; stopped");
    expect(stdout).not.toContain("runner listening");
  });

  it("refuses to start where builds cannot be isolated: exit 2, the reason, and the flag for a single-tenant host", async () => {
    const runner = await start(["--work-root", path.join(work.dir, "refused")], {
      withoutCapabilities: true,
    });
    expect(runner.code).toBe(2);
    expect(runner.url).toBeUndefined();
    expect(runner.stderr).toContain("runner: builds cannot be isolated on this host:");
    expect(runner.stderr).toContain("bubblewrap cannot create namespaces here");
    expect(runner.stderr).toContain("--insecure-no-sandbox");
  });

  it("runs builds unisolated on such a host only with --insecure-no-sandbox, and warns at start", async () => {
    const runner = await start(["--work-root", path.join(work.dir, "insecure"), "--insecure-no-sandbox"], {
      withoutCapabilities: true,
    });
    expect(runner.url).toBeDefined();
    expect(runner.stderr).toContain(
      "runner: WARNING: builds are NOT ISOLATED (--insecure-no-sandbox): builds run as the runner's own user, seeing its processes and files",
    );
    const health = await (await fetch(`${runner.url}/health`)).json();
    expect(health).toMatchObject({ ok: true, isolated: false });
  });

  it.each([
    [["--memory-mb", "10"], "sandbox limit memoryMb must be an integer between 64 and 1048576 (got 10)"],
    [["--uid-base", "0"], "runner: --uid-base must be an integer between 1000"],
    [["--uid-count", "3"], "runner: --uid-count must be an integer between 5 and 1000000 (got 3)"],
    [
      ["--allow-network", "10.0.0.0"],
      "runner: --allow-network must be a network such as 10.1.0.0/16 (got 10.0.0.0)",
    ],
    [
      ["--cloudflare-api", "http://localhost:8787"],
      "runner: --cloudflare-api: the Cloudflare API must be http://127.0.0.1:<port>, with no path (got http://localhost:8787)",
    ],
  ])("refuses %j with a message that names it", async (args, message) => {
    const runner = await start(["--work-root", path.join(work.dir, "bad"), ...args]);
    expect(runner.code).toBe(1);
    expect(runner.stderr).toContain(message);
  });

  it("answers --help with its usage, the flags and the exit codes", async () => {
    const runner = await start(["--help"]);
    expect(runner.code).toBe(0);
    expect(runner.stdout).toContain("--insecure-no-sandbox");
    expect(runner.stdout).toContain("--cloudflare-api URL");
    expect(runner.stdout).toContain(
      "Exit codes: 0 stopped cleanly, 1 error, 2 the host cannot isolate builds",
    );
  });
});
