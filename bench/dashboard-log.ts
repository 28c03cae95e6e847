import { loadavg } from "node:os";
import { launchChromium } from "../test/browser";
import { type BuildsPlatform, startBuildsPlatform } from "../test/builds-harness";
import { median, ms, sleep } from "./stats";

/**
 * The dashboard's live log in Chromium while a 20,000-line build streams, on the local target. Two
 * baselines from the same run: the same build's log stream read by a plain HTTP client (when did its last
 * line arrive there, against when the page drew it), and the same page's frame rate once the log is
 * complete (frames a second while lines arrive, against frames a second idle).
 */
const ROUNDS = Number(process.env.BENCH_DASHBOARD_ROUNDS ?? 3);
const LINES = 20_000;
const SCRIPT =
  "for b in $(seq 0 19); do seq $((b*1000+1)) $((b*1000+1000)) | sed 's/^/line /'; sleep 0.2; done";

/** Reads a build's log stream to its end; answers the wall-clock time of its last log line and the count. */
async function readStream(
  api: string,
  token: string,
  uuid: string,
): Promise<{ lastLineAt: number; lines: number }> {
  const res = await fetch(`${api}/api/builds/${uuid}/logs/stream`, {
    headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
  });
  if (!res.ok || !res.body) throw new Error(`stream: ${res.status}`);
  const decoder = new TextDecoder();
  let tail = "";
  let lines = 0;
  let lastLineAt = 0;
  for await (const chunk of res.body) {
    const text = tail + decoder.decode(chunk, { stream: true });
    const events = text.split("\n\n");
    tail = events.pop() ?? "";
    for (const event of events) {
      if (event.startsWith("event: log")) {
        lines++;
        lastLineAt = Date.now();
      } else if (event.startsWith("event: done")) return { lastLineAt, lines };
    }
  }
  throw new Error("the stream ended before the build did");
}

async function main() {
  const [platform, browser]: [BuildsPlatform, Awaited<ReturnType<typeof launchChromium>>] = await Promise.all(
    [startBuildsPlatform({ log: () => {} }), launchChromium()],
  );
  try {
    const token = await platform.token("bench-dashboard");
    const call = async (method: string, route: string, body?: object) => {
      const res = await fetch(`${platform.api}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body && JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { result: { id: string; build_uuid: string } }).result;
    };
    const repo = await platform.gitRepo();
    await repo.commit({ "README.md": "# log\n" }, "first commit");
    await call("POST", "/api/workers", { name: "dashboard-log" });
    const trigger = await call("POST", "/api/workers/dashboard-log/triggers", {
      repo_url: repo.url,
      production_branch: "main",
      build_command: SCRIPT,
      deploy_command: "echo done",
    });
    const rows: { lag: number; ratio: number; fps: number; idleFps: number; longest: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      const page = await context.newPage();
      const { build_uuid: uuid } = await call("POST", `/api/triggers/${trigger.id}/builds`, {});
      await page.goto(`${platform.api}/builds/${uuid}#token=${token}`);
      await page.getByRole("log", { name: "Build log" }).waitFor();
      await page.evaluate(`{
        window.frames_ = [];
        const box = document.getElementById("log");
        const tick = () => { window.frames_.push([Date.now(), Number(box.dataset.lines ?? 0)]); requestAnimationFrame(tick); };
        requestAnimationFrame(tick);
      }`);
      const stream = await readStream(platform.api, token, uuid);
      await page.locator("#log[data-done]").waitFor({ timeout: 120_000 });
      await page.waitForFunction(`Number(document.getElementById("log").dataset.lines) >= ${stream.lines}`);
      const idleFrom = Date.now();
      await sleep(2000);
      const frames = (await page.evaluate("window.frames_")) as [number, number][];
      await context.close();
      if (stream.lines < LINES) throw new Error(`the stream had ${stream.lines} lines`);
      const first = frames.findIndex(([, n]) => n > 0);
      const last = frames.findIndex(([, n]) => n >= stream.lines);
      const during = frames.slice(first - 1, last + 1);
      const seconds = (during[during.length - 1]![0] - during[0]![0]) / 1000;
      const idle = frames.filter(([t]) => t >= idleFrom);
      const idleSeconds = (idle[idle.length - 1]![0] - idle[0]![0]) / 1000;
      const gaps = during.slice(1).map(([t], i) => t - during[i]![0]);
      const streamStart = during[0]![0];
      rows.push({
        lag: during[during.length - 1]![0] - stream.lastLineAt,
        ratio: (during[during.length - 1]![0] - streamStart) / Math.max(1, stream.lastLineAt - streamStart),
        fps: during.length / seconds,
        idleFps: idle.length / idleSeconds,
        longest: Math.max(...gaps),
      });
      const r = rows[rows.length - 1]!;
      console.log(
        `round ${round + 1}: last line drawn ${ms(r.lag)} after the plain client got it (${r.ratio.toFixed(2)}x its time), ` +
          `${r.fps.toFixed(0)} fps while lines arrived against ${r.idleFps.toFixed(0)} fps idle, longest frame ${ms(r.longest)}`,
      );
    }
    const m = (k: keyof (typeof rows)[number]) => median(rows.map((r) => r[k]));
    console.log(
      `\ndashboard log, ${LINES} lines, ${ROUNDS} rounds, load ${loadavg()[0]!.toFixed(1)}: ` +
        `page/plain client ${m("ratio").toFixed(2)}x (last line drawn ${ms(m("lag"))} later), ` +
        `fps while streaming / idle ${(m("fps") / m("idleFps")).toFixed(2)}x (${m("fps").toFixed(0)} / ${m("idleFps").toFixed(0)}), ` +
        `longest frame ${ms(m("longest"))} (medians)`,
    );
  } finally {
    await browser.close();
    await platform.stop();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
