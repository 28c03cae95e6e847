import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { workersDevSubdomain } from "../local/cloudflare-api/types";
import { DEMO_SCRIPT, siteFiles } from "../local/demo-site";
import { getByHost } from "../local/workers-dev";
import { githubDelivery, githubPayload } from "../test/builds/deliveries";
import { type BuildsPlatform, startBuildsPlatform } from "../test/builds-harness";
import { wranglerEnv, wranglerProject } from "../test/wrangler";
import { median, ms, sleep } from "./stats";

/**
 * Push to live: from a signed GitHub push delivery to the deployed Worker answering with the pushed code,
 * on the local target (clone, `npm ci` from the build cache, `npx wrangler deploy` through the Cloudflare
 * API stand-in, the swap), against its baseline in the same run: the same project's `wrangler deploy` run
 * by hand on this machine (its dependencies already installed) to the Worker answering with the new code.
 * Interleaved rounds, after one warm-up push each (the first build fills the build cache from the registry).
 */
const ROUNDS = Number(process.env.BENCH_PUSH_ROUNDS ?? 5);
const BUILD_ACCOUNT = "bench-push";
const HAND_ACCOUNT = "bench-hand";
const run = promisify(execFile);

/** The answer of a workers.dev host name on the entry port ("" while it does not answer). */
const answer = (entry: string, host: string) =>
  getByHost(entry, `https://${host}/`).then(
    (res) => res.body,
    () => "",
  );

/** Polls until the host answers with `marker`; the time it did, in ms from `since`. */
async function liveAt(entry: string, host: string, marker: string, since: number): Promise<number> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if ((await answer(entry, host)).includes(marker)) return performance.now() - since;
    await sleep(25);
  }
  throw new Error(`${host} never answered with ${marker}`);
}

const source = (marker: string) => siteFiles()["src/index.js"]!.replace("from v1", `from ${marker}`);

async function main() {
  const platform: BuildsPlatform = await startBuildsPlatform({ log: () => {} });
  const project = await wranglerProject();
  try {
    const entry = platform.target.entryUrl;
    const token = await platform.token(BUILD_ACCOUNT);
    const call = async (method: string, route: string, body?: object) => {
      const res = await fetch(`${platform.api}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body && JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { result: unknown }).result;
    };
    const repo = await platform.gitRepo();
    await call("POST", "/api/workers", { name: "push-to-live" });
    const trigger = (await call("POST", "/api/workers/push-to-live/triggers", {
      repo_url: repo.url,
      production_branch: "main",
      build_caching_enabled: true,
    })) as { id: string; webhook_secret: string };
    const buildHost = `${DEMO_SCRIPT}.${workersDevSubdomain(BUILD_ACCOUNT)}.workers.dev`;
    const handHost = `${DEMO_SCRIPT}.${workersDevSubdomain(HAND_ACCOUNT)}.workers.dev`;

    const push = async (files: Record<string, string>, marker: string) => {
      const sha = await repo.commit(files, marker);
      const payload = githubPayload("push-new-branch", { repoUrl: repo.url, sha, ref: "refs/heads/main" });
      const delivery = githubDelivery("push", payload, trigger.webhook_secret);
      const since = performance.now();
      const res = await fetch(`${platform.api}/webhooks/github`, {
        method: "POST",
        headers: delivery.headers,
        body: delivery.body,
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      return liveAt(entry, buildHost, `from ${marker}`, since);
    };
    const handToken = await platform.target.cloudflareApi.tokenFor(HAND_ACCOUNT);
    const byHand = async (marker: string) => {
      writeFileSync(path.join(project.dir, "src", "index.js"), source(marker));
      const since = performance.now();
      await run(path.join(project.dir, "node_modules", ".bin", "wrangler"), ["deploy"], {
        cwd: project.dir,
        env: wranglerEnv({
          apiUrl: platform.target.cloudflareApi.url,
          accountId: HAND_ACCOUNT,
          token: handToken,
        }),
      });
      return liveAt(entry, handHost, `from ${marker}`, since);
    };

    const warm = {
      build: await push({ ...siteFiles(), "src/index.js": source("warm-up") }, "warm-up"),
      hand: 0,
    };
    warm.hand = await byHand("warm-up");
    console.log(
      `warm-up (fills the build cache from the registry): push to live ${ms(warm.build)}, by hand ${ms(warm.hand)}`,
    );
    const figures = { build: [] as number[], hand: [] as number[] };
    for (let round = 1; round <= ROUNDS; round++) {
      const marker = `round-${round}`;
      const order = round % 2 === 0 ? (["hand", "build"] as const) : (["build", "hand"] as const);
      for (const kind of order) {
        figures[kind].push(
          kind === "build" ? await push({ "src/index.js": source(marker) }, marker) : await byHand(marker),
        );
      }
    }
    const row = (name: string, xs: number[]) =>
      `  ${name.padEnd(44)} p50 ${ms(median(xs)).padStart(8)}  min ${ms(Math.min(...xs)).padStart(8)}  max ${ms(Math.max(...xs)).padStart(8)}`;
    console.log(`push to live, ${ROUNDS} rounds interleaved:`);
    console.log(row("`wrangler deploy` by hand (baseline)", figures.hand));
    console.log(row("signed push → build → deployed and answering", figures.build));
    console.log(`  ratio: ${(median(figures.build) / median(figures.hand)).toFixed(2)}x`);
  } finally {
    project.remove();
    await platform.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
