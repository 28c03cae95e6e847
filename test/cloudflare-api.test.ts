/**
 * The local target's Cloudflare API stand-in, driven by the real wrangler (the version the demo's Worker
 * project pins, from the npm registry through a cache): `wrangler deploy` makes a live Worker on workerd,
 * a new deploy replaces it with no failed request, `wrangler versions upload` gets a preview URL of its own
 * and leaves production alone, a refused upload keeps the previous version serving, and what was deployed
 * comes back after a restart (`--reset` clears it).
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workersDevSubdomain } from "../local/cloudflare-api/types";
import { REPO_ROOT } from "../local/stack-file";
import { type LocalTarget, startLocalTarget } from "../local/target/runner";
import { getByHost } from "../local/workers-dev";
import { wranglerEnv, wranglerProject } from "./wrangler";

const ENTRY = path.join(REPO_ROOT, "test", "fixtures", "empty-program", "index.ts");
const ACCOUNT = "e2e-account";
const SUBDOMAIN = workersDevSubdomain(ACCOUNT);
const run = promisify(execFile);

/** A GET through the entry port by host name, as a workers.dev URL is reached on this machine. */
const getByHostName = (entry: string, host: string) => getByHost(entry, `https://${host}/`);

function source(version: string): string {
  return `export default {
  async fetch(request, env) {
    const visits = Number((await env.VISITS.get("visits")) ?? 0) + 1;
    await env.VISITS.put("visits", String(visits));
    return new Response(\`\${env.GREETING} from ${version} (visit \${visits})\\n\`);
  },
};
`;
}

describe("wrangler against the local target's Cloudflare API stand-in", () => {
  const stateDir = mkdtempSync(path.join(tmpdir(), "wp-cloudflare-api-"));
  chmodSync(stateDir, 0o755);
  let target: LocalTarget;
  let project: Awaited<ReturnType<typeof wranglerProject>>;
  let token: string;
  const lines: string[] = [];

  const endpoints = () => JSON.parse(readFileSync(path.join(stateDir, "endpoints.json"), "utf8"));
  const wrangler = async (args: string[]) => {
    const outputFile = path.join(project.dir, `output-${Date.now()}.ndjson`);
    const env = wranglerEnv({ apiUrl: target.cloudflareApi.url, accountId: ACCOUNT, token, outputFile });
    try {
      const { stdout, stderr } = await run(path.join(project.dir, "node_modules", ".bin", "wrangler"), args, {
        cwd: project.dir,
        env,
        timeout: 90_000,
      });
      return { code: 0, out: stdout + stderr, records: records(outputFile) };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: `${e.stdout ?? ""}${e.stderr ?? ""}`, records: records(outputFile) };
    }
  };
  const records = (file: string): Record<string, unknown>[] => {
    try {
      return readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    } catch {
      return [];
    }
  };
  const start = async (reset = false) => {
    target = await startLocalTarget({ entry: ENTRY, stateDir, reset, log: (l) => lines.push(l) });
    token = await target.cloudflareApi.tokenFor(ACCOUNT);
  };
  const production = () => getByHostName(target.entryUrl, `hello-worker.${SUBDOMAIN}.workers.dev`);

  beforeAll(async () => {
    [project] = await Promise.all([wranglerProject(), start()]);
  }, 300_000);
  afterAll(async () => {
    await target?.stop();
    project?.remove();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("lists the stand-in in endpoints.json, with nothing deployed yet", () => {
    expect(endpoints()).toMatchObject({
      cloudflareApi: target.cloudflareApi.url,
      deployed: {},
    });
    expect(target.cloudflareApi.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
  });

  it("`wrangler deploy` makes a live Worker: on a port of its own, by its workers.dev name, in endpoints.json", async () => {
    const deployed = await wrangler(["deploy"]);
    expect(deployed.out).toContain(`https://hello-worker.${SUBDOMAIN}.workers.dev`);
    expect(deployed.code).toBe(0);
    const record = deployed.records.find((r) => r.type === "deploy");
    expect(record).toMatchObject({
      worker_name: "hello-worker",
      targets: [`https://hello-worker.${SUBDOMAIN}.workers.dev`],
    });
    expect(record?.version_id).toMatch(/^[0-9a-f-]{36}$/);
    const url = endpoints().deployed["hello-worker"];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(url)).text()).toBe("hello from v1 (visit 1)\n");
    expect(await production()).toEqual({ status: 200, body: "hello from v1 (visit 2)\n" });
  }, 120_000);

  it("a second deploy replaces the Worker with no failed request, keeping its KV data", async () => {
    const url = endpoints().deployed["hello-worker"];
    writeFileSync(path.join(project.dir, "src", "index.js"), source("v2"));
    const seen: string[] = [];
    const failures: string[] = [];
    let polling = true;
    const poll = async () => {
      while (polling) {
        try {
          const res = await fetch(url);
          const text = await res.text();
          if (res.status !== 200) failures.push(`${res.status} ${text}`);
          else seen.push(text.replace(/ \(visit \d+\)\n$/, ""));
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const pollers = [poll(), poll(), poll()];
    const deployed = await wrangler(["deploy"]);
    // Some answers from the new version after the deploy returned.
    await new Promise((r) => setTimeout(r, 300));
    polling = false;
    await Promise.all(pollers);
    expect(deployed.code, deployed.out).toBe(0);
    expect(failures).toEqual([]);
    expect(new Set(seen)).toEqual(new Set(["hello from v1", "hello from v2"]));
    // Never the old answer once the new one was seen.
    expect(seen.slice(seen.indexOf("hello from v2"))).not.toContain("hello from v1");
    expect(endpoints().deployed["hello-worker"]).toBe(url);
    expect((await production()).body).toMatch(/^hello from v2 \(visit \d+\)\n$/);
    const visits = Number(/visit (\d+)/.exec((await production()).body)?.[1]);
    expect(visits).toBeGreaterThan(3);
  }, 120_000);

  it("`wrangler versions upload` answers on its own preview URL while production keeps the deployed version", async () => {
    writeFileSync(path.join(project.dir, "src", "index.js"), source("v3"));
    const uploaded = await wrangler(["versions", "upload"]);
    expect(uploaded.code, uploaded.out).toBe(0);
    const record = uploaded.records.find((r) => r.type === "version-upload");
    const versionId = record?.version_id as string;
    expect(record?.preview_url).toBe(
      `https://${versionId.slice(0, 8)}-hello-worker.${SUBDOMAIN}.workers.dev`,
    );
    const preview = await getByHostName(target.entryUrl, new URL(record?.preview_url as string).host);
    expect(preview.body).toMatch(/^hello from v3 \(visit \d+\)\n$/);
    expect((await production()).body).toMatch(/^hello from v2 /);
  }, 120_000);

  it.each([
    [
      "a module that throws at startup",
      'throw new Error("broken at startup");\nexport default { fetch: () => new Response("never") };\n',
      undefined,
      /broken at startup/,
    ],
    ["a binding the stand-in cannot honour", source("v4"), { ai: { binding: "AI" } }, /AI/],
  ])(
    "refuses %s with Cloudflare's error, and the previous version keeps serving",
    async (_, code, extra, message) => {
      const config = path.join(project.dir, "wrangler.jsonc");
      const original = readFileSync(config, "utf8");
      writeFileSync(path.join(project.dir, "src", "index.js"), code);
      if (extra) {
        const parsed = JSON.parse(original.replace(/^\s*\/\/.*$/gm, ""));
        writeFileSync(config, JSON.stringify({ ...parsed, ...extra }));
      }
      try {
        const refused = await wrangler(["deploy"]);
        expect(refused.code).not.toBe(0);
        expect(refused.out).toMatch(message);
        expect(refused.out).toMatch(/\[code: \d+\]/);
      } finally {
        writeFileSync(config, original);
      }
      expect((await production()).body).toMatch(/^hello from v2 /);
    },
    120_000,
  );

  it("refuses another account's token and changes nothing", async () => {
    const other = await target.cloudflareApi.tokenFor("someone-else");
    const res = await fetch(`${target.cloudflareApi.url}/accounts/${ACCOUNT}/workers/scripts/hello-worker`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${other}` },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ success: false, errors: [{ code: 10000 }] });
    expect((await production()).body).toMatch(/^hello from v2 /);
  });

  it("what was deployed, and its data, come back after a restart; --reset clears them", async () => {
    const url = endpoints().deployed["hello-worker"];
    const before = Number(/visit (\d+)/.exec((await production()).body)?.[1]);
    await target.stop();
    await start();
    expect(endpoints().deployed["hello-worker"]).toBe(url);
    expect(await (await fetch(url)).text()).toBe(`hello from v2 (visit ${before + 1})\n`);
    await target.stop();
    await start(true);
    expect(endpoints().deployed).toEqual({});
    expect((await production()).status).toBe(404);
  }, 180_000);
});
