import { randomUUID } from "node:crypto";
import path from "node:path";
import { processGroupLauncher, startProcess } from "../workers-src/builds/runner/process";
import { openSandbox, type Sandbox, unisolatedSandbox } from "../workers-src/builds/runner/sandbox";
import type { BuildSandbox } from "../workers-src/builds/runner/sandbox/build-sandbox";
import { SYSTEM_PATH } from "../workers-src/builds/runner/sandbox/host-tools";
import { type RunnerServer, startRunnerServer } from "../workers-src/builds/runner/server";
import {
  buildRequest,
  type CallbackServer,
  createTestRepo,
  startCallbackServer,
  tempDir,
} from "../workers-src/builds/runner/testing";
import { median, ms, percentile, sleep } from "./stats";

/**
 * What the build sandbox costs, each figure against its baseline in the same run:
 * - one process started in a build's sandbox (`true`): bubblewrap, as the runner does it, and the same
 *   isolation built with util-linux's `unshare` and a shell script of mounts (the alternative the issue
 *   names), against the same process started on the host in a process group (the unsandboxed runner);
 * - a build's own sandbox made and removed (its disk, cgroup and network namespace);
 * - a whole small build (clone, build command, deploy command) on a runner with the sandbox against the
 *   same on a runner started with --insecure-no-sandbox, one build at a time, interleaved;
 * - builds per minute on one runner at its default limits (4 at once), with and without the sandbox;
 * - a fixed amount of CPU work in a build, alone and beside another build that goes over a limit (a fork
 *   bomb, a memory hog), interleaved: how much a build that hits its limits slows the one next to it.
 */
const PROCESS_ROUNDS = Number(process.env.BENCH_SANDBOX_PROCESSES ?? 40);
const SETUP_ROUNDS = Number(process.env.BENCH_SANDBOX_SETUPS ?? 10);
const BUILD_ROUNDS = Number(process.env.BENCH_SANDBOX_BUILDS ?? 10);
const THROUGHPUT_BUILDS = Number(process.env.BENCH_SANDBOX_THROUGHPUT ?? 24);
const NEIGHBOUR_ROUNDS = Number(process.env.BENCH_SANDBOX_NEIGHBOURS ?? 3);
const TOKEN = "bench-sandbox-token-0123456789abcdef";
/** A small build: a node process that does a little work, as a build script would. */
const BUILD_COMMAND = "node -e 'let x = 0; for (let i = 0; i < 2e7; i++) x += i; console.log(x)'";

async function timeProcess(launch: () => ReturnType<typeof startProcess>): Promise<number> {
  const started = performance.now();
  const result = await launch().done;
  if (result.code !== 0) throw new Error(`the process failed: ${JSON.stringify(result)}`);
  return performance.now() - started;
}

/** The same isolation as bubblewrap's, made by `unshare` and a shell script of mounts. */
function unshareArgv(box: BuildSandbox, jobDir: string, netns: string, cgroupProcs: string[], uid: number) {
  const workspace = box.hostPath("/build");
  const root = path.join(jobDir, "unshare-root");
  const inner = [
    "set -e",
    `mkdir -p ${root}`,
    `mount -t tmpfs -o mode=755 tmpfs ${root}`,
    `for d in usr etc; do mkdir ${root}/$d; mount --bind /$d ${root}/$d; mount -o remount,bind,ro ${root}/$d; done`,
    `for l in bin lib lib64 sbin; do ln -s usr/$l ${root}/$l; done`,
    `mkdir ${root}/proc ${root}/dev ${root}/build ${root}/tmp`,
    `mount -t proc proc ${root}/proc`,
    `mount -t tmpfs -o mode=755 tmpfs ${root}/dev`,
    `for n in null zero random urandom; do touch ${root}/dev/$n; mount --bind /dev/$n ${root}/dev/$n; done`,
    `mount --bind ${workspace} ${root}/build`,
    `mount --bind ${workspace}/tmp ${root}/tmp`,
    `cd ${root}`,
    `exec chroot ${root} /usr/bin/setpriv --reuid=${uid} --regid=${uid} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- /usr/bin/env -i -- PATH=/usr/bin:/bin /bin/true`,
  ].join("\n");
  const outer = `${cgroupProcs.map((file) => `echo $$ > ${file}`).join("; ")}; exec nsenter --net=${netns} unshare --pid --fork --kill-child --mount --propagation private --ipc --uts sh -c "$0"`;
  return ["/bin/sh", "-c", outer, inner];
}

async function processStarts(sandbox: Sandbox, workRoot: string) {
  const uuid = randomUUID();
  const box = await sandbox.prepare(uuid);
  // The bench reaches into the prepared build for what the unshare script needs.
  const parts = (box as unknown as { parts: { jobDir: string; uid: number; network: { path: string } } })
    .parts;
  const cgroupProcs = ["memory", "pids", "cpu", "cpuacct"].map((c) =>
    path.join(
      (box as unknown as { parts: { cgroup: { dirOf: Record<string, string> } } }).parts.cgroup.dirOf[
        c
      ] as string,
      "cgroup.procs",
    ),
  );
  const env = { PATH: SYSTEM_PATH };
  const host: number[] = [];
  const bwrap: number[] = [];
  const unshare: number[] = [];
  const noLine = () => undefined;
  try {
    for (let round = 0; round < PROCESS_ROUNDS; round++) {
      host.push(
        await timeProcess(() =>
          startProcess({
            argv: ["/bin/true"],
            cwd: workRoot,
            env,
            onLine: noLine,
            launcher: processGroupLauncher,
          }),
        ),
      );
      bwrap.push(
        await timeProcess(() =>
          startProcess({ argv: ["/bin/true"], cwd: "/build", env, onLine: noLine, launcher: box.launcher() }),
        ),
      );
      unshare.push(
        await timeProcess(() =>
          startProcess({
            argv: unshareArgv(box, parts.jobDir, parts.network.path, cgroupProcs, parts.uid),
            cwd: "/",
            env,
            onLine: noLine,
          }),
        ),
      );
    }
  } finally {
    await box.dispose();
  }
  return { host, bwrap, unshare };
}

async function setups(sandbox: Sandbox) {
  const prepare: number[] = [];
  const dispose: number[] = [];
  for (let round = 0; round < SETUP_ROUNDS; round++) {
    let at = performance.now();
    const box = await sandbox.prepare(randomUUID());
    prepare.push(performance.now() - at);
    at = performance.now();
    await box.dispose();
    dispose.push(performance.now() - at);
  }
  return { prepare, dispose };
}

/** A fixed amount of CPU work that prints how long it took, timed inside the build. */
const STEADY_WORK =
  "node -e 'const t = Date.now(); let x = 0; for (let i = 0; i < 1.5e9; i++) x = (x + i) % 1000003; console.log(\"work-ms\", Date.now() - t)'";
/** Builds that go over a limit, each started a moment before the steady work. */
const NEIGHBOURS = {
  "fork bomb": "sleep 1; f() { f | f & }; f; sleep 60",
  "memory hog": "sleep 1; node -e 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'",
} as const;

async function runBuild(
  runner: RunnerServer,
  callback: CallbackServer,
  repoUrl: string,
  buildCommand = BUILD_COMMAND,
  outcome = "success",
): Promise<number> {
  const request = buildRequest({
    repo_url: repoUrl,
    build_command: buildCommand,
    deploy_command: "echo deployed",
  });
  callback.allow(request.build_uuid, request.callback_token);
  const started = performance.now();
  for (;;) {
    const res = await fetch(`${runner.url}/builds`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(request),
    });
    if (res.status === 202) break;
    if (res.status !== 503) throw new Error(`runner answered ${res.status}`);
    await sleep(20);
  }
  const stopped = await callback.waitForStopped(request.build_uuid, 120_000);
  if (stopped.outcome !== outcome) throw new Error(`build ${request.build_uuid} ${stopped.outcome}`);
  if (buildCommand !== STEADY_WORK) return performance.now() - started;
  const line = callback.lines(request.build_uuid).find((l) => l.startsWith("work-ms "));
  if (!line) throw new Error(`build ${request.build_uuid} printed no work-ms line`);
  return Number(line.slice(8));
}

/** The steady work alone and beside each neighbour, interleaved, in CPU-work milliseconds. */
async function neighbours(runner: RunnerServer, callback: CallbackServer, repoUrl: string) {
  const figures: Record<string, number[]> = { alone: [] };
  for (const name of Object.keys(NEIGHBOURS)) figures[name] = [];
  for (let round = 0; round < NEIGHBOUR_ROUNDS; round++) {
    figures.alone!.push(await runBuild(runner, callback, repoUrl, STEADY_WORK));
    for (const [name, command] of Object.entries(NEIGHBOURS)) {
      const hostile = runBuild(runner, callback, repoUrl, command, "failed");
      const [steady] = await Promise.all([runBuild(runner, callback, repoUrl, STEADY_WORK), hostile]);
      figures[name]!.push(steady);
    }
  }
  return figures;
}

async function throughput(runner: RunnerServer, callback: CallbackServer, repoUrl: string): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: THROUGHPUT_BUILDS }, () => runBuild(runner, callback, repoUrl)));
  return (THROUGHPUT_BUILDS / (performance.now() - started)) * 60_000;
}

async function main() {
  const work = tempDir("bench-sandbox-");
  const callback = await startCallbackServer();
  const repo = createTestRepo(work.dir);
  repo.commit({ "package.json": '{"name":"bench"}\n', "index.js": "console.log('hi')\n" });
  const sandbox = await openSandbox({
    workRoot: path.join(work.dir, "isolated"),
    uidBase: 4_000_000,
    uidCount: 100,
  });
  const runners: Record<"isolated" | "host", RunnerServer> = {
    isolated: await startRunnerServer({
      token: TOKEN,
      callbackUrl: callback.url,
      allowFileRepos: true,
      sandbox,
      logFlushIntervalMs: 50,
    }),
    host: await startRunnerServer({
      token: TOKEN,
      callbackUrl: callback.url,
      allowFileRepos: true,
      sandbox: unisolatedSandbox(path.join(work.dir, "host")),
      logFlushIntervalMs: 50,
    }),
  };
  try {
    console.log(`sandbox: ${sandbox.description}`);
    const starts = await processStarts(sandbox, work.dir);
    const row = (name: string, xs: number[]) =>
      `  ${name.padEnd(34)} p50 ${ms(median(xs)).padStart(8)}  p90 ${ms(percentile(xs, 90)).padStart(8)}`;
    console.log(`one process (\`true\`), ${PROCESS_ROUNDS} rounds interleaved:`);
    console.log(row("host, own process group (baseline)", starts.host));
    console.log(row("bubblewrap sandbox (the runner's)", starts.bwrap));
    console.log(row("unshare + mount script", starts.unshare));
    console.log(
      `  overhead per process: bubblewrap +${ms(median(starts.bwrap) - median(starts.host))}, unshare +${ms(median(starts.unshare) - median(starts.host))}; unshare/bubblewrap ${(median(starts.unshare) / median(starts.bwrap)).toFixed(2)}x`,
    );

    const setup = await setups(sandbox);
    console.log(`a build's sandbox (disk, cgroup, network), ${SETUP_ROUNDS} rounds:`);
    console.log(row("made", setup.prepare));
    console.log(row("removed", setup.dispose));

    const builds: Record<"isolated" | "host", number[]> = { isolated: [], host: [] };
    for (let round = 0; round < BUILD_ROUNDS; round++) {
      const order = round % 2 === 0 ? (["host", "isolated"] as const) : (["isolated", "host"] as const);
      for (const kind of order) builds[kind].push(await runBuild(runners[kind], callback, repo.url));
    }
    console.log(`a small build (clone, node, deploy), one at a time, ${BUILD_ROUNDS} rounds interleaved:`);
    console.log(row("--insecure-no-sandbox (baseline)", builds.host));
    console.log(row("sandbox", builds.isolated));
    console.log(
      `  sandbox cost per build: +${ms(median(builds.isolated) - median(builds.host))} (${(median(builds.isolated) / median(builds.host)).toFixed(2)}x)`,
    );

    const perMinute = { host: await throughput(runners.host, callback, repo.url), isolated: 0 };
    perMinute.isolated = await throughput(runners.isolated, callback, repo.url);
    console.log(
      `builds per minute on one runner at the default limits (4 at once), ${THROUGHPUT_BUILDS} builds:`,
    );
    console.log(`  --insecure-no-sandbox (baseline) ${perMinute.host.toFixed(0)}/min`);
    console.log(
      `  sandbox                          ${perMinute.isolated.toFixed(0)}/min (${(perMinute.isolated / perMinute.host).toFixed(2)}x)`,
    );

    const beside = await neighbours(runners.isolated, callback, repo.url);
    console.log(
      `a build's CPU work (1.5e9 loop steps) beside a build that goes over a limit, ${NEIGHBOUR_ROUNDS} rounds interleaved:`,
    );
    console.log(row("alone (baseline)", beside.alone!));
    for (const name of Object.keys(NEIGHBOURS)) {
      console.log(
        `${row(`beside a ${name}`, beside[name]!)}  (${(median(beside[name]!) / median(beside.alone!)).toFixed(2)}x)`,
      );
    }
  } finally {
    await runners.isolated.close();
    await runners.host.close();
    await callback.close();
    work.remove();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
