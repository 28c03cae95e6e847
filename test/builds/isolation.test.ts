/**
 * Builds of two accounts at once on the local target, the second one attacking: it reads every process's
 * environment and command line, walks the file system for the first build's workspace and secret, reads
 * the runner's environment, and tries the runner's API and the target's other ports with every token it
 * can find. None of it may succeed, and both builds must end as they would alone.
 */
import { randomBytes, randomInt } from "node:crypto";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostCommandLinesContaining } from "../../workers-src/builds/runner/testing";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { buildsApi } from "./builds";

let platform: BuildsPlatform;
let repo: GitRepo;

beforeAll(async () => {
  platform = await startBuildsPlatform({ builds: { heartbeatTimeoutSeconds: 10 } });
  repo = await platform.gitRepo();
  await repo.commit({ "README.md": "isolation\n" }, "first");
}, 120_000);

afterAll(() => platform?.stop(), 60_000);

/** A text the build's script holds in two halves, so that only a joined copy is a real hit. */
function split(text: string): string {
  const half = Math.floor(text.length / 2);
  return `"${text.slice(0, half)}""${text.slice(half)}"`;
}

/** This machine's addresses other than loopback: a build must not reach the target through them either. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === "IPv4" && !a.internal)
    .map((a) => a!.address);
}

describe("two accounts building at once", () => {
  it("the second account's build reads, finds and reaches nothing of the first build, the runner or the target", async () => {
    const a = buildsApi(platform.api, await platform.token("isolation-account-a"));
    const b = buildsApi(platform.api, await platform.token("isolation-account-b"));
    const secret = `sec-${randomBytes(16).toString("hex")}`;
    // Long enough for the attack to run while it sleeps, even on a loaded machine (checked below).
    const sleep = `40.${randomInt(1, 1_000_000_000)}`;
    const first = await a.workerWithTrigger("victim", {
      repo_url: repo.url,
      build_command: `echo "uid=$(id -u)"; echo "$VICTIM_SECRET" > "$HOME/secret.txt"; cp "$HOME/secret.txt" copy.txt; echo ready; sleep ${sleep}; echo victim-done`,
      env_vars: [{ name: "VICTIM_SECRET", value: secret, type: "secret" }],
    });
    const victim = await a.startBuild(first.trigger.id);
    await expect.poll(() => a.logSoFar(victim), { timeout: 30_000, interval: 200 }).toContain("ready");
    // Its secret is on no command line of the host, where any user could read it.
    expect(hostCommandLinesContaining(secret)).toEqual([]);

    const runnerToken = platform.target.plan.workers.find((w) => w.bindings.RUNNER_TOKEN)?.bindings
      .RUNNER_TOKEN as string;
    const ports = [
      ...platform.target.runners.map((r) => new URL(r.url).port),
      new URL(platform.api).port,
      new URL(platform.management).port,
      new URL(platform.target.postgres ?? "").port,
      new URL(platform.target.entryUrl).port,
    ];
    const targets = ports.flatMap((port) =>
      ["127.0.0.1", "10.0.2.2", ...hostAddresses()].map((host) => `${host}:${port}`),
    );
    const runnerPids = platform.target.runners.map((r) => r.pid).join(" ");
    const attack = [
      `n=${split(secret)}; u=${split(victim)}; t=${split(runnerToken)}; s=${split(sleep)}`,
      'echo "uid=$(id -u)"',
      // Every process's environment and command line.
      'hits=0; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do if tr "\\0" "\\n" < "$f" 2>/dev/null | grep -qF -e "$n" -e "$t" -e "$s"; then hits=$((hits+1)); echo "PROC-HIT $f"; fi; done; echo "proc-hits=$hits"',
      'echo "processes=$(ls -d /proc/[0-9]* | wc -l)"',
      // The runner's own environment, by its pid on the host.
      `for p in ${runnerPids}; do if cat /proc/$p/environ 2>/dev/null | tr "\\0" "\\n" | grep -q RUNNER_TOKEN; then echo "RUNNER-ENV-READ $p"; else echo "runner-env-unreadable $p"; fi; done`,
      // The file system from the root: the victim's workspace by name, its secret and the runner token by content.
      'find / \\( -path /proc -o -path /sys \\) -prune -o -name "*$u*" -print 2>/dev/null | sed "s/^/FS-NAME-HIT /"',
      'grep -rlsF -e "$n" -e "$t" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr 2>/dev/null | sed "s/^/FS-CONTENT-HIT /"',
      'echo "fs-walk-done"; echo "root: $(ls -A / | tr "\\n" " ")"; echo "beside: $(ls -A /build/.. | tr "\\n" " ")"',
      // Swapping a folder of its workspace for a link, for the runner or bwrap to follow on the host.
      'if rm -rf /build/tmp 2>/dev/null && ln -s /proc /build/tmp 2>/dev/null; then echo "TMP-SWAPPED"; else echo "tmp-swap-refused"; fi',
      // Writing anywhere but the workspace.
      'for d in / /usr /etc /run /build/..; do if touch "$d/planted" 2>/dev/null; then echo "WRITE-OK $d"; else echo "write-refused $d"; fi; done',
      // The runner's API and the target's ports, with every token in sight.
      `for target in ${targets.join(" ")}; do if timeout 3 bash -c "exec 3<>/dev/tcp/\${target%:*}/\${target#*:}" 2>/dev/null; then echo "OPEN $target"; else echo "closed $target"; fi; done`,
      'for tok in $(env | grep -i token | cut -d= -f2) "$t"; do for p in ' +
        platform.target.runners.map((r) => new URL(r.url).port).join(" ") +
        '; do if timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; printf \\"POST /builds HTTP/1.0\\r\\nAuthorization: Bearer $tok\\r\\n\\r\\n\\" >&3; cat <&3" 2>/dev/null | grep -q HTTP; then echo "RUNNER-API-ANSWERED $p"; else echo "runner-api-unreachable $p"; fi; done; done',
      // The Cloudflare API stand-in, the one host service a build reaches: the first account's Workers
      // with every token in sight, its own with its own token.
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell script
      'hp="${CLOUDFLARE_API_BASE_URL#http://}"; hp="${hp%%/*}"; ask() { timeout 3 bash -c "exec 3<>/dev/tcp/${hp%:*}/${hp#*:}; printf \\"GET /client/v4/accounts/$1/workers/scripts HTTP/1.0\\r\\nAuthorization: Bearer $2\\r\\n\\r\\n\\" >&3; head -1 <&3" 2>/dev/null | tr -d "\\r"; }',
      'for tok in $(env | grep -i token | cut -d= -f2) "$t"; do echo "victim-account-api $(ask isolation-account-a "$tok")"; done',
      'echo "own-account-api $(ask isolation-account-b "$CLOUDFLARE_API_TOKEN")"',
      "echo attack-done",
    ].join("\n");
    const second = await b.workerWithTrigger("attacker", {
      repo_url: repo.url,
      build_command: attack,
      // A later step of the same build: /tmp is still its own.
      deploy_command: 'echo "tmp-entries=$(ls -A /tmp | wc -l)"',
    });
    const attacker = await b.startBuild(second.trigger.id);

    const attackerBuild = await b.stopped(attacker, 90_000);
    expect(attackerBuild).toMatchObject({ build_outcome: "success" });
    const victimBuild = await a.stopped(victim, 60_000);
    expect(victimBuild).toMatchObject({ build_outcome: "success", failure_class: null });

    const log = await b.allLogLines(attacker);
    const text = log.join("\n");
    if (process.env.SHOW_ATTACK) console.log(text);
    expect(log).toContain("attack-done");
    expect(log).toContain("proc-hits=0");
    expect(log).toContain("fs-walk-done");
    expect(
      log.filter((l) =>
        /^(PROC-HIT|FS-NAME-HIT|FS-CONTENT-HIT|RUNNER-ENV-READ|WRITE-OK|OPEN|RUNNER-API-ANSWERED|TMP-SWAPPED)\b/.test(
          l,
        ),
      ),
    ).toEqual([]);
    expect(log).toContain("tmp-swap-refused");
    const victimApi = log.filter((l) => l.startsWith("victim-account-api "));
    expect(victimApi.length).toBeGreaterThanOrEqual(2);
    for (const line of victimApi) expect(line).toMatch(/^victim-account-api HTTP\/1\.[01] 403 /);
    expect(log.find((l) => l.startsWith("own-account-api "))).toMatch(/^own-account-api HTTP\/1\.[01] 200 /);
    expect(Number(log.find((l) => l.startsWith("tmp-entries="))?.slice(12))).toBeLessThan(5);
    for (const target of targets) expect(log).toContain(`closed ${target}`);
    for (const runner of platform.target.runners) {
      expect(log).toContain(`runner-env-unreadable ${runner.pid}`);
      expect(log).toContain(`runner-api-unreachable ${new URL(runner.url).port}`);
    }
    // Only its own sandbox: a few processes, no neighbours beside its workspace.
    expect(Number(log.find((l) => l.startsWith("processes="))?.slice(10))).toBeLessThan(10);
    expect(log.find((l) => l.startsWith("beside: "))).toBe(
      log.find((l) => l.startsWith("root: "))?.replace("root: ", "beside: "),
    );
    for (const value of [secret, victim, runnerToken, sleep]) expect(text).not.toContain(value);

    // The attack ran while the victim's build ran.
    const victimEntries = await a.logEntries(victim);
    const attackerEntries = await b.logEntries(attacker);
    const at = (entries: { ts: number; line: string }[], line: string) =>
      entries.find((e) => e.line === line)?.ts ?? Number.NaN;
    expect(at(victimEntries, "ready")).toBeLessThan(at(attackerEntries, "attack-done"));
    expect(at(attackerEntries, "attack-done")).toBeLessThan(at(victimEntries, "victim-done"));
    const victimLog = victimEntries.map((e) => e.line);
    const uidOf = (lines: string[]) => Number(lines.find((l) => l.startsWith("uid="))?.slice(4));
    const [victimUid, attackerUid] = [uidOf(victimLog), uidOf(log)];
    expect(victimUid).toBeGreaterThanOrEqual(1000);
    expect(attackerUid).toBeGreaterThanOrEqual(1000);
    expect(attackerUid).not.toBe(victimUid);
    expect(victimLog.join("\n")).not.toContain(secret);
  }, 180_000);

  it("a fork bomb and a memory hog of the second account each end failed (resource_limit) while the first account's build beside them succeeds", async () => {
    const a = buildsApi(platform.api, await platform.token("isolation-account-a"));
    const b = buildsApi(platform.api, await platform.token("isolation-account-b"));
    // CPU work that lasts a few seconds. How much the neighbour slows it is measured by `npm run
    // bench:sandbox` against the same work alone; here it must only succeed while the attack runs.
    const work =
      "echo work-start; node -e 'let x = 0; for (let i = 0; i < 1.5e9; i++) x = (x + i) % 1000003; console.log(\"work-done\", x)'";
    const { trigger: steady } = await a.workerWithTrigger("steady", {
      repo_url: repo.url,
      build_command: work,
    });
    const steadyBuild = async (uuid: string) => {
      expect(await a.stopped(uuid, 90_000)).toMatchObject({ build_outcome: "success" });
      const entries = await a.logEntries(uuid);
      const done = entries.find((e) => e.line.startsWith("work-done "));
      const started = entries.find((e) => e.line === "work-start");
      return { from: started?.ts ?? 0, to: done?.ts ?? 0 };
    };
    for (const [attack, limit] of [
      [
        "f() { f | f & }; f; sleep 60",
        "Build stopped: it reached its limit of 1024 processes and threads (a new one was refused)",
      ],
      [
        "node -e 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))'",
        "Build stopped: it went over its memory limit of 2048 MiB (a process was killed for lack of memory)",
      ],
    ] as const) {
      // The attack waits a moment, so that it runs while the steady build works.
      const { trigger } = await b.workerWithTrigger("hostile", {
        repo_url: repo.url,
        build_command: `sleep 1; echo attack-start; ${attack}`,
      });
      const hostile = await b.startBuild(trigger.id);
      await b.waitForBuild(hostile, (build) => build.status === "running", 30_000);
      const beside = await steadyBuild(await a.startBuild(steady.id));
      expect(await b.stopped(hostile, 90_000)).toMatchObject({
        build_outcome: "failed",
        failure_class: "resource_limit",
      });
      const hostileLog = await b.logEntries(hostile);
      expect(hostileLog.map((e) => e.line)).toContain(limit);
      // They overlapped: the attack began before the work ended, and was stopped after the work began.
      const attackFrom = hostileLog.find((e) => e.line === "attack-start")?.ts ?? Number.POSITIVE_INFINITY;
      const attackTo = hostileLog.find((e) => e.line === limit)?.ts ?? 0;
      expect(attackFrom).toBeLessThan(beside.to);
      expect(attackTo).toBeGreaterThan(beside.from);
    }
  }, 240_000);
});
