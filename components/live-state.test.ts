import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  defaultLiveState,
  LIVE_TAGS_ENV,
  liveStateFromCloudflare,
  liveStateFromFile,
  noLiveState,
} from "./live-state";

const dir = mkdtempSync(path.join(tmpdir(), "live-tags-"));

/** Writes a live tags file with exactly this text. */
function tagsFile(text: string): string {
  const file = path.join(dir, `tags-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, text);
  return file;
}

interface Recorded {
  method: string;
  path: string;
  authorization: string | undefined;
}

const requests: Recorded[] = [];
/** What the stand-in answers per path, as Cloudflare's envelope. */
const services = new Map<string, { status: number; body: unknown }>();
let server: Server;
let baseUrl: string;

const servicePath = (account: string, script: string) =>
  `/client/v4/accounts/${account}/workers/services/${script}`;
const service = (migrationTag: string | null) => ({
  status: 200,
  body: {
    success: true,
    errors: [],
    messages: [],
    result: {
      id: "api",
      default_environment: { environment: "production", script: { migration_tag: migrationTag } },
    },
  },
});

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({
      method: req.method ?? "",
      path: req.url ?? "",
      authorization: req.headers.authorization,
    });
    const answer = services.get(req.url ?? "") ?? {
      status: 404,
      body: {
        success: false,
        errors: [{ code: 10092, message: "This Worker does not exist" }],
        result: null,
      },
    };
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
});

beforeEach(() => {
  requests.length = 0;
  services.clear();
  vi.stubEnv("CLOUDFLARE_API_BASE_URL", baseUrl);
  vi.stubEnv("CLOUDFLARE_API_TOKEN", undefined);
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("liveStateFromFile", () => {
  const file = tagsFile(JSON.stringify({ api: "v3", web: null, jobs: 3 }));

  it.each<[string, string, string | undefined]>([
    ["the script's tag", "api", "v3"],
    ["undefined for a script missing from the file", "billing", undefined],
    ["undefined for a null tag", "web", undefined],
  ])("returns %s", async (_label, script, tag) => {
    expect(await liveStateFromFile(file).migrationTag("acc", script)).toBe(tag);
  });

  it("rejects a tag that is not a string, naming the file and the script", async () => {
    await expect(liveStateFromFile(file).migrationTag("acc", "jobs")).rejects.toThrow(
      `live tags file ${file}: tag of "jobs" must be a string`,
    );
  });

  it("refuses a file that is not JSON, naming the file", () => {
    const bad = tagsFile("{ api: v3 }");
    expect(() => liveStateFromFile(bad)).toThrow(new RegExp(`^live tags file ${bad}: .*JSON`));
  });

  it("refuses a file that does not exist, naming the file", () => {
    const missing = path.join(dir, "missing.json");
    expect(() => liveStateFromFile(missing)).toThrow(`live tags file ${missing}: ENOENT`);
  });

  it.each([
    ["an array", '["v1"]'],
    ["null", "null"],
    ["a string", '"v1"'],
  ])("refuses a file holding %s", (_label, text) => {
    const bad = tagsFile(text);
    expect(() => liveStateFromFile(bad)).toThrow(
      `live tags file ${bad}: must be a JSON object of script name to migration tag`,
    );
  });
});

describe("defaultLiveState", () => {
  it(`uses no live state when ${LIVE_TAGS_ENV} is "none"`, () => {
    vi.stubEnv(LIVE_TAGS_ENV, "none");
    expect(defaultLiveState()).toBe(noLiveState);
  });

  it(`reads the file ${LIVE_TAGS_ENV} names`, async () => {
    vi.stubEnv(LIVE_TAGS_ENV, tagsFile(JSON.stringify({ api: "v7" })));
    expect(await defaultLiveState().migrationTag("acc", "api")).toBe("v7");
    expect(requests).toEqual([]);
  });

  it(`refuses at once when the file ${LIVE_TAGS_ENV} names does not exist`, () => {
    const missing = path.join(dir, "nope.json");
    vi.stubEnv(LIVE_TAGS_ENV, missing);
    expect(() => defaultLiveState()).toThrow(`live tags file ${missing}`);
  });

  it(`asks Cloudflare when ${LIVE_TAGS_ENV} is unset`, async () => {
    vi.stubEnv(LIVE_TAGS_ENV, undefined);
    vi.stubEnv("CLOUDFLARE_API_TOKEN", "env-token");
    services.set(servicePath("acc", "api"), service("v4"));
    expect(await defaultLiveState().migrationTag("acc", "api")).toBe("v4");
    expect(requests).toEqual([
      { method: "GET", path: servicePath("acc", "api"), authorization: "Bearer env-token" },
    ]);
  });
});

describe("liveStateFromCloudflare against a stand-in API", () => {
  it("reads the script's migration tag with the token it was given", async () => {
    vi.stubEnv("CLOUDFLARE_API_TOKEN", "env-token");
    services.set(servicePath("acc-1", "api"), service("v2"));
    expect(await liveStateFromCloudflare("given-token").migrationTag("acc-1", "api")).toBe("v2");
    expect(requests).toEqual([
      { method: "GET", path: servicePath("acc-1", "api"), authorization: "Bearer given-token" },
    ]);
  });

  it.each<[string, { status: number; body: unknown } | undefined]>([
    ["has no migrations", service(null)],
    ["does not exist yet", undefined],
  ])("returns undefined for a script that %s", async (_label, answer) => {
    if (answer) services.set(servicePath("acc-1", "api"), answer);
    expect(await liveStateFromCloudflare("t").migrationTag("acc-1", "api")).toBeUndefined();
    expect(requests).toHaveLength(1);
  });

  it("takes the token from the cloudflare:apiToken config when no other is set", async () => {
    const saved = pulumi.runtime.allConfig();
    pulumi.runtime.setConfig("cloudflare:apiToken", "config-token");
    try {
      services.set(servicePath("acc-1", "api"), service("v1"));
      expect(await liveStateFromCloudflare().migrationTag("acc-1", "api")).toBe("v1");
      expect(requests.map((r) => r.authorization)).toEqual(["Bearer config-token"]);
    } finally {
      pulumi.runtime.setAllConfig(saved);
    }
  });

  it("without any token rejects, naming the script and CLOUDFLARE_API_TOKEN, and sends nothing", async () => {
    expect(process.env.CLOUDFLARE_API_TOKEN).toBeUndefined();
    await expect(liveStateFromCloudflare().migrationTag("acc-1", "api")).rejects.toThrow(
      'reading the live migration tag of Worker "api" needs a Cloudflare API token: set CLOUDFLARE_API_TOKEN or the cloudflare:apiToken config secret',
    );
    expect(requests).toEqual([]);
  });
});
