import { describe, expect, it } from "vitest";
import {
  type DeployOutput,
  isDeployUrl,
  MAX_DEPLOY_URL_LENGTH,
  MAX_WRANGLER_OUTPUT_BYTES,
  parseWranglerOutput,
} from "./deploy-output";
import { statusCallbackSchema } from "./protocol";

const ts = "2026-12-03T19:00:00.000Z";
const session = JSON.stringify({
  version: 1,
  type: "wrangler-session",
  wrangler_version: "4.86.0",
  command_line_args: ["deploy"],
  log_file_path: "/home/build/.wrangler/logs/wrangler.log",
  timestamp: ts,
});
const deploy = (targets: unknown, versionId: unknown = "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a") =>
  JSON.stringify({
    version: 1,
    type: "deploy",
    worker_name: "site",
    worker_tag: "0123456789abcdef0123456789abcdef",
    version_id: versionId,
    targets,
    wrangler_environment: null,
    worker_name_overridden: false,
    timestamp: ts,
  });
const upload = (preview: unknown, alias: unknown) =>
  JSON.stringify({
    version: 1,
    type: "version-upload",
    worker_name: "site",
    worker_tag: "0123456789abcdef0123456789abcdef",
    version_id: "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4",
    preview_url: preview,
    preview_alias_url: alias,
    wrangler_environment: null,
    worker_name_overridden: false,
    timestamp: ts,
  });

describe("parseWranglerOutput", () => {
  const cases: { why: string; text: string; expected: DeployOutput }[] = [
    { why: "an empty file", text: "", expected: {} },
    { why: "only the session record", text: `${session}\n`, expected: {} },
    {
      why: "a deploy: the first http(s) target, and the version",
      text: `${session}\n${deploy(["https://site.acct.workers.dev", "example.com/*"])}\n`,
      expected: {
        deploymentUrl: "https://site.acct.workers.dev",
        versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
      },
    },
    {
      why: "a deploy whose first targets are routes, not URLs",
      text: deploy(["example.com/*", "*.example.com/api", "http://127.0.0.1:8790"]),
      expected: { deploymentUrl: "http://127.0.0.1:8790", versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a" },
    },
    {
      why: "a deploy to routes only: the version, no URL",
      text: deploy(["example.com/*"]),
      expected: { versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a" },
    },
    {
      why: "a deploy with no targets or a version id that is not one",
      text: deploy(undefined, "not a version id; rm -rf /"),
      expected: {},
    },
    {
      why: "a version upload: its preview URL",
      text: `${session}\n${upload("https://9e8d7c6b-site.acct.workers.dev", "https://feature-site.acct.workers.dev")}\n`,
      expected: { previewUrl: "https://9e8d7c6b-site.acct.workers.dev" },
    },
    {
      why: "a version upload without a preview URL: its alias",
      text: upload(null, "https://feature-site.acct.workers.dev"),
      expected: { previewUrl: "https://feature-site.acct.workers.dev" },
    },
    {
      why: "a version upload with neither",
      text: upload(undefined, undefined),
      expected: {},
    },
    {
      why: "several records: the last of each kind wins",
      text: [
        deploy(["https://first.acct.workers.dev"], "11111111-1111-4111-8111-111111111111"),
        upload("https://preview.acct.workers.dev", null),
        deploy(["https://second.acct.workers.dev"], "22222222-2222-4222-8222-222222222222"),
      ].join("\n"),
      expected: {
        deploymentUrl: "https://second.acct.workers.dev",
        versionId: "22222222-2222-4222-8222-222222222222",
        previewUrl: "https://preview.acct.workers.dev",
      },
    },
    {
      why: "malformed lines, arrays, other types and CRLF are skipped",
      text: [
        "not json",
        '{"type":"deploy","targets":["https://cut.example"',
        "[1,2,3]",
        "null",
        '{"type":"deploy","targets":"https://not-an-array.example"}',
        '{"type":"something-else","preview_url":"https://other.example"}',
        `${deploy(["https://site.acct.workers.dev"])}\r`,
        "",
      ].join("\n"),
      expected: {
        deploymentUrl: "https://site.acct.workers.dev",
        versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
      },
    },
    {
      why: "URLs that are not http(s) or carry text are never kept",
      text: [
        deploy(["javascript:alert(1)", "ftp://site.example", "https://a b.example", 42, null]),
        upload("data:text/html,<b>hi</b>", "https://ok.example/\u0000"),
      ].join("\n"),
      expected: { versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a" },
    },
    {
      why: "a URL over the length cap",
      text: upload(`https://long.example/${"a".repeat(MAX_DEPLOY_URL_LENGTH)}`, null),
      expected: {},
    },
  ];
  for (const { why, text, expected } of cases) {
    it(why, () => expect(parseWranglerOutput(text)).toEqual(expected));
  }

  it("reads no further than the size cap of a huge file", () => {
    const filler = `${"x".repeat(1000)}\n`.repeat(Math.ceil(MAX_WRANGLER_OUTPUT_BYTES / 1001) + 1);
    const early = deploy(["https://early.acct.workers.dev"]);
    const late = upload("https://late.acct.workers.dev", null);
    expect(parseWranglerOutput(`${early}\n${filler}${late}\n`)).toEqual({
      deploymentUrl: "https://early.acct.workers.dev",
      versionId: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
    });
  });
});

describe("isDeployUrl", () => {
  it.each([
    ["https://site.acct.workers.dev", true],
    ["http://127.0.0.1:8790/", true],
    ["HTTPS://SITE.EXAMPLE", true],
    ["https://", false],
    ["//site.example", false],
    ["site.example", false],
    ["mailto:a@b.example", false],
    ["https://site.example/\n", false],
    ["", false],
  ])("%j → %s", (value, expected) => expect(isDeployUrl(value)).toBe(expected));

  it("refuses what is not a string", () => {
    for (const value of [undefined, null, 1, {}, ["https://a.example"]])
      expect(isDeployUrl(value)).toBe(false);
  });
});

describe("the runner's stopped callback", () => {
  const stopped = { status: "stopped", outcome: "success", last_log_seq: 3 };
  it("takes http(s) deployment and preview URLs, both optional", () => {
    expect(statusCallbackSchema.safeParse(stopped).success).toBe(true);
    const both = { ...stopped, deployment_url: "https://site.example", preview_url: "http://127.0.0.1:8790" };
    expect(statusCallbackSchema.parse(both)).toEqual(both);
  });
  it.each([
    ["deployment_url", "javascript:alert(1)"],
    ["deployment_url", "not a url"],
    ["preview_url", `https://long.example/${"a".repeat(MAX_DEPLOY_URL_LENGTH)}`],
    ["preview_url", 42],
  ])("refuses %s %j", (field, value) => {
    expect(statusCallbackSchema.safeParse({ ...stopped, [field]: value }).success).toBe(false);
  });
  it("refuses URLs on a running report", () => {
    expect(
      statusCallbackSchema.safeParse({ status: "running", deployment_url: "https://a.example" }).success,
    ).toBe(false);
  });
});
