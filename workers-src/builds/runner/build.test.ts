import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_LOG_LINE_BYTES, type StartBuildRequest } from "../shared/protocol";
import { type RunnerServer, startRunnerServer } from "./server";
import {
  buildRequest,
  type CallbackServer,
  createTestRepo,
  hostProcessesRunning,
  startCallbackServer,
  type TestRepo,
  tempDir,
  testSandbox,
  uniqueSleep,
} from "./testing";

/** A build takes its time on a loaded machine (its sandbox, its clone): polls wait for it this long. */
const BUILD_WAIT = { timeout: 30_000 };
const RUNNER_TOKEN = "runner-token-for-tests-0123456789";
const work = tempDir("runner-build-");
const workRoot = path.join(work.dir, "builds");
let callback: CallbackServer;
let runner: RunnerServer;
let repo: TestRepo;
let firstSha: string;
let headSha: string;

beforeAll(async () => {
  callback = await startCallbackServer();
  runner = await startRunnerServer({
    token: RUNNER_TOKEN,
    callbackUrl: callback.url,
    allowFileRepos: true,
    sandbox: await testSandbox(workRoot),
    maxConcurrent: 8,
    logFlushIntervalMs: 50,
    killGraceMs: 500,
    callbackRetry: { initialDelayMs: 10, maxDelayMs: 50, deadlineMs: 5000 },
  });
  repo = createTestRepo(work.dir);
  firstSha = repo.commit({ "version.txt": "one\n" });
  headSha = repo.commit({ "version.txt": "two\n", "app/marker.txt": "in app\n" });
});

afterAll(async () => {
  await runner?.close();
  await callback?.close();
  work.remove();
});

async function startOn(server: RunnerServer, request: StartBuildRequest): Promise<void> {
  callback.allow(request.build_uuid, request.callback_token);
  const response = await fetch(`${server.url}/builds`, {
    method: "POST",
    headers: { authorization: `Bearer ${RUNNER_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  expect(response.status).toBe(202);
}

/** Runs a build on the shared runner and returns what the callback API received. */
async function build(overrides: Partial<StartBuildRequest>, server = runner) {
  const request = buildRequest({ repo_url: repo.url, ...overrides });
  await startOn(server, request);
  const stopped = await callback.waitForStopped(request.build_uuid);
  const record = callback.record(request.build_uuid);
  return { request, stopped, record, lines: callback.lines(request.build_uuid) };
}

/** Asserts that `expected` occur in `lines` in this order (other lines may come between). */
function expectInOrder(lines: string[], expected: string[]) {
  let at = 0;
  for (const line of expected) {
    const found = lines.indexOf(line, at);
    expect(found, `"${line}" after line ${at} in:\n${lines.join("\n")}`).toBeGreaterThanOrEqual(0);
    at = found + 1;
  }
}

async function waitForLine(uuid: string, match: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = callback.lines(uuid).find((l) => match.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line matching ${match}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("a build", () => {
  it("reports running then success, streams command output in order with the CI variables set", async () => {
    const buildCommand = 'echo building; echo "$WORKERS_CI_COMMIT_SHA $WORKERS_CI_BRANCH $CI $WORKERS_CI"';
    const { request, stopped, record, lines } = await build({
      build_command: buildCommand,
      deploy_command: "echo deploying; echo $WORKERS_CI_BUILD_UUID",
    });
    // running, running again with the commit it checked out, then stopped
    expect(record.statuses).toEqual([
      { status: "running" },
      { status: "running", commit_hash: headSha },
      expect.objectContaining({ status: "stopped" }),
    ]);
    expect(stopped).toEqual({ status: "stopped", outcome: "success", last_log_seq: record.batches.length });
    expect(record.batches.map((batch) => batch.seq)).toEqual(record.batches.map((_, i) => i + 1));
    expectInOrder(lines, [
      `Checked out commit ${headSha}`,
      `$ ${buildCommand}`,
      "building",
      `${headSha} main true 1`,
      "$ echo deploying; echo $WORKERS_CI_BUILD_UUID",
      "deploying",
      request.build_uuid,
    ]);
    await expect.poll(() => runner.activeBuilds(), BUILD_WAIT).not.toContain(request.build_uuid);
    expect(existsSync(path.join(workRoot, request.build_uuid))).toBe(false);
  });

  it("reports running again every heartbeat_seconds while it runs, and nothing after stopped", async () => {
    const { record } = await build({ heartbeat_seconds: 1, build_command: "sleep 2.3" });
    const statuses = record.statuses.map((status) => status.status);
    expect(statuses.length).toBeGreaterThanOrEqual(3);
    expect(statuses.slice(0, -1).every((status) => status === "running")).toBe(true);
    expect(statuses.at(-1)).toBe("stopped");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(record.statuses).toHaveLength(statuses.length);
  });

  it("checks out the requested older commit", async () => {
    const { stopped, lines } = await build({ commit_hash: firstSha, build_command: "cat version.txt" });
    expect(stopped.outcome).toBe("success");
    expectInOrder(lines, [`Checked out commit ${firstSha}`, "$ cat version.txt", "one"]);
  });

  it("runs the commands in the root directory", async () => {
    const { stopped, lines } = await build({ root_directory: "app", build_command: "cat marker.txt" });
    expect(stopped.outcome).toBe("success");
    expectInOrder(lines, ["$ cat marker.txt", "in app"]);
  });

  it("fails with failure class clone when the root directory does not exist", async () => {
    const { stopped, lines } = await build({ root_directory: "missing/dir", build_command: "echo never" });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "clone" });
    expect(
      lines.some((line) => /Build failed \(clone\): Root directory "missing\/dir" does not exist/.test(line)),
    ).toBe(true);
    expect(lines).not.toContain("never");
  });

  it("refuses a root directory that leads out of the checkout", async () => {
    const { stopped } = await build({ root_directory: "../..", build_command: "echo never" });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "clone" });
  });

  it("gives the build's processes only its own variables and the CI ones: nothing of the runner's", async () => {
    const { stopped, lines } = await build({
      env: { MY_TEXT: "text", MY_SECRET: "a-secret-value" },
      secret_names: ["MY_SECRET"],
      build_command: "env | cut -d= -f1 | sort | tr '\\n' ' '; echo; id -u",
    });
    expect(stopped.outcome).toBe("success");
    const names = lines
      .find((line) => line.startsWith("BUN_INSTALL_CACHE_DIR"))
      ?.trim()
      .split(" ");
    expect(names).toEqual([
      "BUN_INSTALL_CACHE_DIR",
      "CI",
      "HOME",
      "LANG",
      "MY_SECRET",
      "MY_TEXT",
      "NODE_EXTRA_CA_CERTS",
      "PATH",
      "PNPM_STORE_DIR",
      "PWD",
      "SHLVL",
      "TMPDIR",
      "WORKERS_CI",
      "WORKERS_CI_BRANCH",
      "WORKERS_CI_BUILD_UUID",
      "WORKERS_CI_COMMIT_SHA",
      "YARN_CACHE_FOLDER",
      "_",
      "npm_config_cache",
      "npm_config_prefer_offline",
    ]);
    // Its own unprivileged uid, from the test sandbox's range.
    const uid = Number(lines[lines.findIndex((l) => l.startsWith("BUN_INSTALL")) + 1]);
    expect(uid).toBeGreaterThanOrEqual(300_000);
  });

  it("reaches the package registry by name over its network, but not the host: its loopback, its own addresses, link-local (metadata) or private networks", async () => {
    // A service of the host listening on every address, as a careless one would.
    const open = createServer((_req, res) => res.end("host service"));
    await new Promise<void>((resolve) => open.listen(0, "0.0.0.0", resolve));
    const port = (open.address() as AddressInfo).port;
    const hostAddress = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    const targets = [
      `127.0.0.1:${new URL(callback.url).port}`,
      `127.0.0.1:${port}`,
      ...(hostAddress ? [`${hostAddress}:${port}`] : []),
      "169.254.169.254:80",
      "10.0.2.2:80",
      "192.168.1.1:80",
    ];
    const probe = (target: string) =>
      `.then(() => fetch("http://${target}/", { signal: AbortSignal.timeout(2000) })).then((r) => console.log("REACHED ${target}", r.status), () => console.log("unreachable ${target}"))`;
    const script = [
      'fetch("https://registry.npmjs.org/is-number").then((r) => console.log("registry", r.status), (e) => console.log("registry failed", e.cause?.code ?? e.message))',
      ...targets.map(probe),
      // fetch keeps its connection alive for seconds after the answer; the build need not wait for that.
      ".then(() => process.exit(0))",
    ].join("");
    try {
      const { stopped, lines } = await build({ build_command: `node -e '${script}'` });
      expect(stopped.outcome).toBe("success");
      expect(lines).toContain("registry 200");
      for (const target of targets) expect(lines).toContain(`unreachable ${target}`);
      expect(lines.filter((line) => line.startsWith("REACHED"))).toEqual([]);
    } finally {
      open.close();
    }
  });

  it("cannot make a user namespace or use the kernel's keyrings (system call filter)", async () => {
    const { stopped, lines } = await build({
      build_command:
        "if unshare -U true 2>/dev/null; then echo USERNS-MADE; else echo userns-refused; fi; perl -e 'syscall(250, 0) == -1 and print \"keyctl: $!\\n\"'",
    });
    expect(stopped.outcome).toBe("success");
    expect(lines).toContain("userns-refused");
    expect(lines).toContain("keyctl: Operation not permitted");
  });

  it("masks secret values in every line it sends, and only secret ones", async () => {
    const secret = "s3cr3t-Value.*";
    const { stopped, record, lines } = await build({
      env: { API_TOKEN: secret, PLAIN: "plain-value", SHORT: "q9" },
      secret_names: ["API_TOKEN", "SHORT", "NOT_SET"],
      build_command:
        'echo "token=$API_TOKEN"; echo "$PLAIN"; echo "$API_TOKEN$API_TOKEN" >&2; echo x"$SHORT"y; ' +
        // A line longer than the platform keeps, with the secret right where it is cut.
        'head -c 8185 /dev/zero | tr "\\0" a; echo "$API_TOKEN and more"',
      deploy_command: `echo ${secret} > /dev/null`,
    });
    expect(stopped.outcome).toBe("success");
    expect(JSON.stringify(record.batches)).not.toContain(secret);
    // stderr is a pipe of its own, so its line may land anywhere among the stdout lines.
    expectInOrder(lines, ["token=***", "plain-value", "x***y", "$ echo *** > /dev/null"]);
    expect(lines).toContain("***");
    const long = lines.find((line) => line.startsWith("aaaa"));
    expect(long).toBe(`${"a".repeat(8185)}*** and more`.slice(0, MAX_LOG_LINE_BYTES));
  });

  it("fails with failure class build_command when the build command fails, and does not deploy", async () => {
    const { stopped, lines } = await build({
      build_command: "echo before; exit 7",
      deploy_command: "echo deployed",
    });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "build_command" });
    expectInOrder(lines, [
      "before",
      "Build failed (build_command): `echo before; exit 7` failed (exit code 7)",
    ]);
    expect(lines).not.toContain("$ echo deployed");
  });

  it("fails with failure class deploy_command when the deploy command fails", async () => {
    const { stopped } = await build({ build_command: "true", deploy_command: "echo deploying; false" });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "deploy_command" });
  });

  it("gives the deploy step a fresh wrangler output file and wrangler's offline switches, and reports the URLs it names", async () => {
    const deploy = JSON.stringify({
      version: 1,
      type: "deploy",
      worker_name: "site",
      version_id: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
      targets: ["example.com/*", "https://site.acct.workers.dev"],
    });
    const upload = JSON.stringify({
      version: 1,
      type: "version-upload",
      worker_name: "site",
      preview_url: null,
      preview_alias_url: "https://feature-site.acct.workers.dev",
    });
    const command = [
      'echo "out=$WRANGLER_OUTPUT_FILE_PATH"',
      'echo "switches=$WRANGLER_SEND_METRICS $WRANGLER_SEND_ERROR_REPORTS $WRANGLER_HIDE_BANNER"',
      'test ! -e "$WRANGLER_OUTPUT_FILE_PATH" && echo fresh',
      `printf '%s\\n' 'not json' '${deploy}' '{"type":"deploy"' '${upload}' >> "$WRANGLER_OUTPUT_FILE_PATH"`,
    ].join("; ");
    const { stopped, lines, request } = await build({
      build_command: 'echo "build=$WRANGLER_OUTPUT_FILE_PATH"',
      deploy_command: command,
      // The build's own variables win over the switches, never over the output file.
      env: { WRANGLER_SEND_METRICS: "true", WRANGLER_OUTPUT_FILE_PATH: "/build/repo/elsewhere.ndjson" },
    });
    expect(stopped).toEqual({
      status: "stopped",
      outcome: "success",
      last_log_seq: expect.any(Number),
      deployment_url: "https://site.acct.workers.dev",
      preview_url: "https://feature-site.acct.workers.dev",
    });
    const out = lines.find((line) => line.startsWith("out="))?.slice(4) ?? "";
    expect(out).toMatch(/^\/build\/tmp\/wrangler-output-[0-9a-f-]{36}\.ndjson$/);
    expectInOrder(lines, [
      "build=/build/repo/elsewhere.ndjson",
      "switches=true false true",
      "fresh",
      "Deployed to https://site.acct.workers.dev (version 5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a)",
      "Preview: https://feature-site.acct.workers.dev",
    ]);
    expect(existsSync(path.join(workRoot, request.build_uuid))).toBe(false);
  });

  it("reports no URL when the deploy command writes no output file, or nothing but text", async () => {
    const none = await build({ deploy_command: "echo deployed" });
    expect(none.stopped).toEqual({ status: "stopped", outcome: "success", last_log_seq: expect.any(Number) });
    const junk = await build({
      deploy_command: `printf '%s\\n' 'https://not-a-record.example' '{"type":"deploy","targets":["javascript:alert(1)"]}' > "$WRANGLER_OUTPUT_FILE_PATH"`,
    });
    expect(junk.stopped).toEqual({ status: "stopped", outcome: "success", last_log_seq: expect.any(Number) });
  });

  it("reports what a failed deploy command deployed before it failed", async () => {
    const record = JSON.stringify({ type: "deploy", version_id: "abc", targets: ["https://half.example"] });
    const { stopped } = await build({
      deploy_command: `printf '%s\\n' '${record}' > "$WRANGLER_OUTPUT_FILE_PATH"; exit 3`,
    });
    expect(stopped).toMatchObject({
      outcome: "failed",
      failure_class: "deploy_command",
      deployment_url: "https://half.example",
    });
  });

  it("keeps a build's wrangler output file from every other build", async () => {
    const record = JSON.stringify({ type: "deploy", targets: ["https://first.example"] });
    const first = buildRequest({
      repo_url: repo.url,
      deploy_command: `printf '%s\\n' '${record}' > "$WRANGLER_OUTPUT_FILE_PATH"; echo "written $WRANGLER_OUTPUT_FILE_PATH"; sleep 3`,
    });
    await startOn(runner, first);
    const written = (await waitForLine(first.build_uuid, /^written /, 20_000)).slice("written ".length);
    const second = await build({
      deploy_command: [
        `cat '${written}' && echo "read the other build's file"`,
        'ls -a "$(dirname "$WRANGLER_OUTPUT_FILE_PATH")"',
        `test "$WRANGLER_OUTPUT_FILE_PATH" != '${written}' && echo "a file of its own"`,
      ].join("; "),
    });
    expect(second.stopped).toEqual({
      status: "stopped",
      outcome: "success",
      last_log_seq: expect.any(Number),
    });
    expect(second.lines).toContain("a file of its own");
    expect(second.lines).not.toContain("read the other build's file");
    expect(second.lines).not.toContain(path.basename(written));
    expect(await callback.waitForStopped(first.build_uuid)).toMatchObject({
      outcome: "success",
      deployment_url: "https://first.example",
    });
  });

  it("fails with failure class clone for a repository that does not exist", async () => {
    const { stopped, lines } = await build({ repo_url: `file://${work.dir}/missing.git` });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "clone" });
    expect(lines.some((line) => line.startsWith("Build failed (clone): Fetching branch main failed"))).toBe(
      true,
    );
  });

  it.each([
    "ext::sh -c touch% /tmp/pwned",
    "ssh://git@example.com/repo.git",
    "git@example.com:repo.git",
    "http://example.com/repo.git",
  ])("refuses to clone %s (failure class clone)", async (url) => {
    const { stopped, lines } = await build({ repo_url: url });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "clone" });
    expect(lines.some((line) => line.startsWith("Build failed (clone): Refusing to clone:"))).toBe(true);
  });

  it("refuses file:// repositories on a runner that does not allow them", async () => {
    const httpsOnly = await startRunnerServer({
      token: RUNNER_TOKEN,
      callbackUrl: callback.url,
      allowFileRepos: false,
      sandbox: await testSandbox(path.join(work.dir, "builds-https")),
      logFlushIntervalMs: 50,
    });
    try {
      const { stopped, lines } = await build({ build_command: "echo never" }, httpsOnly);
      expect(stopped).toMatchObject({ outcome: "failed", failure_class: "clone" });
      expect(
        lines.some((line) => line.includes("Refusing to clone: file:// repositories are only allowed")),
      ).toBe(true);
    } finally {
      await httpsOnly.close();
    }
  });

  it("is terminated with failure class timeout after timeout_seconds, with its process tree killed", async () => {
    const started = Date.now();
    const marker = uniqueSleep();
    const { stopped, lines } = await build({
      timeout_seconds: 1,
      build_command: `sleep ${marker} & echo "child=$!"; wait`,
    });
    expect(stopped).toEqual({
      status: "stopped",
      outcome: "terminated",
      failure_class: "timeout",
      last_log_seq: expect.any(Number),
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lines.some((line) => line.startsWith("child="))).toBe(true);
    await expect.poll(() => hostProcessesRunning(`sleep ${marker}`), { timeout: 1000 }).toEqual([]);
    expect(lines).toContain("Build exceeded its time limit of 1 s; stopping");
  });

  it("is cancelled by DELETE /builds/:uuid, with its process tree killed", async () => {
    const marker = uniqueSleep();
    const request = buildRequest({
      repo_url: repo.url,
      build_command: `sleep ${marker} & echo "child=$!"; wait`,
    });
    await startOn(runner, request);
    await waitForLine(request.build_uuid, /^child=/);
    expect(hostProcessesRunning(`sleep ${marker}`)).toHaveLength(1);
    const response = await fetch(`${runner.url}/builds/${request.build_uuid}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${RUNNER_TOKEN}` },
    });
    expect(response.status).toBe(202);
    const stopped = await callback.waitForStopped(request.build_uuid);
    expect(stopped).toMatchObject({ outcome: "cancelled" });
    expect(stopped).not.toHaveProperty("failure_class");
    await expect.poll(() => hostProcessesRunning(`sleep ${marker}`), { timeout: 1000 }).toEqual([]);
    expect(callback.lines(request.build_uuid)).toContain("Build cancelled; stopping");
  });

  it("delivers 20,000 lines exactly once and in order, even when some batches fail at first", async () => {
    const request = buildRequest({ repo_url: repo.url, build_command: "seq 1 20000" });
    callback.failFirstAttempt(request.build_uuid, [2, 3, 7]);
    await startOn(runner, request);
    const stopped = await callback.waitForStopped(request.build_uuid);
    const record = callback.record(request.build_uuid);
    expect(stopped.outcome).toBe("success");
    // Accepted batches, in arrival order: 1..n with no gap and nothing twice.
    expect(record.batches.map((batch) => batch.seq)).toEqual(record.batches.map((_, i) => i + 1));
    expect(stopped).toMatchObject({ last_log_seq: record.batches.length });
    expect(record.logAttempts).toBe(record.batches.length + 3);
    const numbers = record.batches
      .flatMap((batch) => batch.lines.map((l) => l.line))
      .filter((l) => /^\d+$/.test(l));
    expect(numbers).toEqual(Array.from({ length: 20_000 }, (_, i) => String(i + 1)));
  });

  it("saves the package-manager cache after a success and restores it in the next build", async () => {
    const first = await build({
      cache_enabled: true,
      build_command: 'mkdir -p "$npm_config_cache" && echo cached-value > "$npm_config_cache/marker"',
    });
    expect(first.stopped.outcome).toBe("success");
    expect(first.record.cacheGets).toBe(1);
    expect(first.record.cachePuts).toBe(1);
    expect(callback.cache?.length).toBeGreaterThan(0);
    expect(first.lines.some((line) => line.startsWith("No build cache yet"))).toBe(true);

    const second = await build({ cache_enabled: true, build_command: 'cat "$npm_config_cache/marker"' });
    expect(second.stopped.outcome).toBe("success");
    expectInOrder(second.lines, ['$ cat "$npm_config_cache/marker"', "cached-value"]);

    const disabled = await build({
      cache_enabled: false,
      build_command: 'ls "$npm_config_cache" || echo no-cache',
    });
    expect(disabled.record.cacheGets + disabled.record.cachePuts).toBe(0);
    expect(disabled.lines).toContain("no-cache");
  });

  it("builds on with a warning when the cache cannot be restored, and saves none after a failure", async () => {
    callback.cache = Buffer.from("not a tar.gz");
    const { stopped, record, lines } = await build({
      cache_enabled: true,
      build_command: "echo built; exit 1",
    });
    expect(stopped).toMatchObject({ outcome: "failed", failure_class: "build_command" });
    expect(lines.some((line) => line.startsWith("Warning: could not restore the build cache"))).toBe(true);
    expect(lines).toContain("built");
    expect(record.cachePuts).toBe(0);
  });

  it("installs with npm ci when there is no build command but a package-lock.json (failure class install)", async () => {
    const manifest = JSON.stringify({ name: "app", version: "1.0.0" });
    const lock = JSON.stringify({
      name: "app",
      version: "1.0.0",
      lockfileVersion: 3,
      requires: true,
      packages: { "": { name: "app", version: "1.0.0" } },
    });
    const sha = repo.commit(
      { "npm/package.json": manifest, "npm/package-lock.json": lock },
      { branch: "npm" },
    );
    const ok = await build({ branch: "npm", root_directory: "npm", commit_hash: sha });
    expect(ok.stopped.outcome).toBe("success");
    expect(ok.lines).toContain("$ npm ci");

    const broken = repo.commit({ "npm/package-lock.json": "{ not json" }, { branch: "npm" });
    const failed = await build({ branch: "npm", root_directory: "npm", commit_hash: broken });
    expect(failed.stopped).toMatchObject({ outcome: "failed", failure_class: "install" });
  });
});
