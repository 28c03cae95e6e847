/**
 * What a build deployed, end to end on the local target: the deploy command writes wrangler's output
 * records to `$WRANGLER_OUTPUT_FILE_PATH` (a small shell script stands in for wrangler), the runner reads
 * them, the Build Management Worker stores the URLs on the build, and the REST API answers them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "../builds-harness";
import { type Build, buildsApi } from "./builds";

let platform: BuildsPlatform;
let repo: GitRepo;
let builds: ReturnType<typeof buildsApi>;
let token: string;

beforeAll(async () => {
  platform = await startBuildsPlatform({ builds: { startTimeoutSeconds: 10, heartbeatTimeoutSeconds: 5 } });
  token = await platform.token("deploy-urls-account");
  builds = buildsApi(platform.api, token);
  repo = await platform.gitRepo();
}, 120_000);

afterAll(() => platform?.stop(), 60_000);

type Deployed = Build & { deployment_url: string | null; preview_url: string | null };

/** A deploy command that appends `records` to wrangler's output file, as wrangler would. */
const writes = (...records: object[]) =>
  `printf '%s\\n' ${records.map((r) => `'${JSON.stringify(r)}'`).join(" ")} >> "$WRANGLER_OUTPUT_FILE_PATH"`;

const DEPLOY = {
  version: 1,
  type: "deploy",
  worker_name: "site",
  version_id: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
  targets: ["example.com/*", "https://site.acct.workers.dev"],
};
const UPLOAD = {
  version: 1,
  type: "version-upload",
  worker_name: "site",
  version_id: "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4",
  preview_url: "https://9e8d7c6b-site.acct.workers.dev",
  preview_alias_url: "https://feature-site.acct.workers.dev",
};

describe("a build records what it deployed", () => {
  it("a production build its deployment URL, a feature-branch build its preview URL, in the build and the list", async () => {
    const { name, trigger } = await builds.workerWithTrigger("deployed", {
      repo_url: repo.url,
      build_non_production_branches: true,
      deploy_command: `echo deploying; ${writes({ type: "wrangler-session", version: 1 }, DEPLOY)}`,
      non_production_deploy_command: `echo uploading; ${writes(UPLOAD)}`,
    });
    await repo.commit({ "app.txt": "main\n" }, "main version");
    await repo.commit({ "app.txt": "feature\n" }, "feature version", "feature");

    const production = await builds.startBuild(trigger.id);
    const feature = await builds.startBuild(trigger.id, { branch: "feature" });
    const prod = (await builds.stopped(production, 60_000)) as Deployed;
    const prev = (await builds.stopped(feature, 60_000)) as Deployed;
    expect(prod).toMatchObject({
      build_outcome: "success",
      production: true,
      deployment_url: "https://site.acct.workers.dev",
      preview_url: null,
    });
    expect(prev).toMatchObject({
      build_outcome: "success",
      production: false,
      deployment_url: null,
      preview_url: "https://9e8d7c6b-site.acct.workers.dev",
    });
    expect(await builds.allLogLines(production)).toContain(
      "Deployed to https://site.acct.workers.dev (version 5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a)",
    );
    expect(await builds.allLogLines(feature)).toContain("Preview: https://9e8d7c6b-site.acct.workers.dev");

    const list = await builds.call<Deployed[]>("GET", `/api/workers/${name}/builds`, { token });
    expect(list.status, list.text).toBe(200);
    const byUuid = new Map(list.json.result.map((b) => [b.build_uuid, b]));
    expect(byUuid.get(production)).toMatchObject({
      deployment_url: "https://site.acct.workers.dev",
      preview_url: null,
    });
    expect(byUuid.get(feature)).toMatchObject({
      deployment_url: null,
      preview_url: "https://9e8d7c6b-site.acct.workers.dev",
    });
  });

  it("a build that deployed nothing (or whose output names no http(s) URL) answers null for both", async () => {
    const { trigger } = await builds.workerWithTrigger("nothing", {
      repo_url: repo.url,
      deploy_command: writes({ type: "deploy", targets: ["javascript:alert(1)", "example.com/*"] }),
    });
    await repo.commit({ "app.txt": "again\n" }, "again");
    const quiet = await builds.workerWithTrigger("quiet", {
      repo_url: repo.url,
      deploy_command: "echo deployed",
    });
    const first = await builds.startBuild(trigger.id);
    const second = await builds.startBuild(quiet.trigger.id);
    for (const uuid of [first, second]) {
      expect(await builds.stopped(uuid, 60_000)).toMatchObject({
        build_outcome: "success",
        deployment_url: null,
        preview_url: null,
      });
    }
  });
});
