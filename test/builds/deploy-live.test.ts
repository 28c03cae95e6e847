/**
 * A push becomes a live Worker, end to end on the local target with real git, the real wrangler (the
 * version the demo's project pins, installed by the build's own `npm ci` from the registry and then from
 * the build cache) and real workerd: GitHub's signed push deliveries start the builds, wrangler deploys
 * through the target's Cloudflare API stand-in, and the Workers it deployed answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workersDevSubdomain } from "../../local/cloudflare-api/types";
import { DEMO_SCRIPT, siteFiles } from "../../local/demo-site";
import { getByHost } from "../../local/workers-dev";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { type Build, buildsApi } from "./builds";
import { githubDelivery, githubPayload } from "./deliveries";

const ACCOUNT = "deploy-live-account";
const SUBDOMAIN = workersDevSubdomain(ACCOUNT);
const PRODUCTION = `https://${DEMO_SCRIPT}.${SUBDOMAIN}.workers.dev`;

type Deployed = Build & {
  deployment_url: string | null;
  preview_url: string | null;
  failure_class: string | null;
};

let platform: BuildsPlatform;
let repo: GitRepo;
let builds: ReturnType<typeof buildsApi>;
let trigger: { id: string; webhook_secret: string };

/** A GET of a workers.dev URL through the entry port, by `Host`, as such a URL is reached here. */
const getWorkersDev = (url: string) => getByHost(platform.target.entryUrl, url);

/** Commits `files` to `branch`, sends GitHub's signed push delivery for it, answers the build started. */
async function push(files: Record<string, string>, message: string, branch = "main"): Promise<string> {
  const sha = await repo.commit(files, message, branch);
  const payload = githubPayload("push-new-branch", {
    repoUrl: repo.url,
    sha,
    message,
    ref: `refs/heads/${branch}`,
  });
  const delivery = githubDelivery("push", payload, trigger.webhook_secret);
  const res = await fetch(`${platform.api}/webhooks/github`, {
    method: "POST",
    headers: delivery.headers,
    body: delivery.body,
  });
  const text = await res.text();
  expect(res.status, text).toBe(202);
  const started = (JSON.parse(text) as { result: { builds: { build_uuid: string; trigger_id: string }[] } })
    .result.builds;
  const uuid = started.find((b) => b.trigger_id === trigger.id)?.build_uuid;
  expect(uuid, text).toBeDefined();
  return uuid as string;
}

const source = (version: string) => siteFiles()["src/index.js"]!.replace("from v1", `from ${version}`);

beforeAll(async () => {
  platform = await startBuildsPlatform();
  builds = buildsApi(platform.api, await platform.token(ACCOUNT));
  repo = await platform.gitRepo();
  ({ trigger } = await builds.workerWithTrigger("live", {
    repo_url: repo.url,
    build_non_production_branches: true,
    build_caching_enabled: true,
    deploy_command: "npx wrangler deploy",
  }));
}, 120_000);

afterAll(() => platform?.stop(), 60_000);

describe("a push becomes a live Worker", () => {
  it("a signed push to the production branch ends success with a deployment_url, and the Worker answers with the pushed code", async () => {
    const uuid = await push(siteFiles(), "hello-worker v1");
    const build = (await builds.stopped(uuid, 180_000)) as Deployed;
    const log = await builds.allLogLines(uuid);
    expect(build, log.join("\n")).toMatchObject({
      build_outcome: "success",
      production: true,
      deployment_url: PRODUCTION,
      preview_url: null,
    });
    expect(log).toContain("$ npm ci");
    expect(log).toContain("$ npx wrangler deploy");
    // The build's token for the stand-in is masked in its log, as every secret is.
    expect(log.join("\n")).not.toMatch(/cfl_[A-Za-z0-9_-]{20}/);
    expect(await getWorkersDev(PRODUCTION)).toEqual({ status: 200, body: "hello from v1 (visit 1)\n" });
    expect(platform.target.cloudflareApi.deployed()).toHaveProperty(DEMO_SCRIPT);
  }, 240_000);

  it("a push to another branch ends with a preview_url that answers with the new code, production still the old", async () => {
    const uuid = await push({ "src/index.js": source("a feature") }, "feature greeting", "feature");
    const build = (await builds.stopped(uuid, 180_000)) as Deployed;
    const log = await builds.allLogLines(uuid);
    expect(build, log.join("\n")).toMatchObject({
      build_outcome: "success",
      production: false,
      deployment_url: null,
    });
    expect(log).toContain("$ npx wrangler versions upload");
    expect(build.preview_url).toMatch(
      new RegExp(`^https://[0-9a-f]{8}-${DEMO_SCRIPT}\\.${SUBDOMAIN}\\.workers\\.dev$`),
    );
    expect((await getWorkersDev(build.preview_url as string)).body).toMatch(
      /^hello from a feature \(visit \d+\)\n$/,
    );
    expect((await getWorkersDev(PRODUCTION)).body).toMatch(/^hello from v1 \(visit \d+\)\n$/);
  }, 240_000);

  it("a second push to production replaces the Worker with no failed request during the swap", async () => {
    const url = platform.target.cloudflareApi.deployed()[DEMO_SCRIPT] as string;
    const seen: string[] = [];
    const failures: string[] = [];
    let polling = true;
    const poll = async () => {
      while (polling) {
        try {
          const res = await fetch(url);
          const text = await res.text();
          if (res.status === 200) seen.push(text.replace(/ \(visit \d+\)\n$/, ""));
          else failures.push(`${res.status} ${text}`);
        } catch (error) {
          failures.push(String(error));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const pollers = [poll(), poll()];
    const uuid = await push({ "src/index.js": source("v2") }, "hello-worker v2");
    const build = (await builds.stopped(uuid, 180_000)) as Deployed;
    await new Promise((r) => setTimeout(r, 300));
    polling = false;
    await Promise.all(pollers);
    expect(build.build_outcome, (await builds.allLogLines(uuid)).join("\n")).toBe("success");
    expect(failures).toEqual([]);
    expect(new Set(seen)).toEqual(new Set(["hello from v1", "hello from v2"]));
    expect(seen.slice(seen.indexOf("hello from v2"))).not.toContain("hello from v1");
  }, 240_000);

  it("a deploy the stand-in refuses fails the build (deploy_command) with wrangler's error in the log; the previous version keeps serving", async () => {
    const broken =
      'throw new Error("broken at startup");\nexport default { fetch: () => new Response("never") };\n';
    const uuid = await push({ "src/index.js": broken }, "a broken Worker");
    const build = (await builds.stopped(uuid, 180_000)) as Deployed;
    const log = (await builds.allLogLines(uuid)).join("\n");
    expect(build, log).toMatchObject({
      build_outcome: "failed",
      failure_class: "deploy_command",
      deployment_url: null,
    });
    expect(log).toContain("broken at startup");
    expect(log).toMatch(/\[code: 10021\]/);
    expect((await getWorkersDev(PRODUCTION)).body).toMatch(/^hello from v2 \(visit \d+\)\n$/);
  }, 240_000);
});
