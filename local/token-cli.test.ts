import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../test/cli";
import { cloudflareApiToken, verifyCloudflareApiToken } from "../workers-src/builds/shared/cloudflare-token";
import { DEFAULT_DEV_ACCOUNT } from "./dev-token";
import { projectName, readStackFile, stackFilePath } from "./stack-file";
import { MAX_EXPIRES_IN_SECONDS, parseTokenArgs } from "./token-cli";

const dir = mkdtempSync(path.join(tmpdir(), "token-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runToken = (...args: string[]) => runCli("local/token-cli.ts", ...args);

const localStackSecret = () =>
  readStackFile(stackFilePath("local"), projectName()).config[`${projectName()}:apiJwtSecret`] as string;

/** Checks the HS256 signature against `secret` and answers the header and claims. */
function verifyJwt(token: string, secret: string) {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const expected = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  expect(signature, "signature verifies with the stack's API_JWT_SECRET").toBe(expected);
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(payload, "base64url").toString()) as {
      sub: string;
      iat: number;
      exp: number;
    },
  };
}

/** The local stack file with some keys replaced, under the temp folder. */
function stackVariant(name: string, changes: Record<string, string>): string {
  let text = readFileSync(stackFilePath("local"), "utf8");
  for (const [key, value] of Object.entries(changes)) {
    text = text.replace(new RegExp(`(workers-platform:${key}:).*`), `$1 ${value}`);
  }
  const file = path.join(dir, `Pulumi.${name}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe("npm run token", () => {
  it("prints only an HS256 JWT for the default account, valid 24 h, signed with the local stack's secret", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await runToken();
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { header, claims } = verifyJwt(res.stdout.trim(), localStackSecret());
    expect(header).toEqual({ alg: "HS256", typ: "JWT" });
    expect(claims.sub).toBe(DEFAULT_DEV_ACCOUNT);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(claims.exp - claims.iat).toBe(24 * 3600);
  });

  it("takes the account, the lifetime and another local-environment config file", async () => {
    const secret = "another-local-secret-that-is-long-enough-42";
    const file = stackVariant("other", { apiJwtSecret: secret });
    const res = await runToken("--account", "ci_bot-7", "--expires-in", "90", "--config-file", file);
    expect(res.status, res.stderr).toBe(0);
    const { claims } = verifyJwt(res.stdout.trim(), secret);
    expect(claims.sub).toBe("ci_bot-7");
    expect(claims.exp - claims.iat).toBe(90);
  });

  it.each([
    ["an account with a space", ["--account", "a b"], "--account must be 1 to 64 characters"],
    ["a lifetime of 0", ["--expires-in", "0"], "--expires-in must be a whole number of seconds between 1"],
    ["a non-local stack", ["--stack", "prod"], 'stack "prod" is the "prod" environment'],
    ["a stack with no file", ["--stack", "nowhere"], 'no config for stack "nowhere"'],
    ["an unknown flag", ["--acount", "x"], "Unknown option '--acount'"],
  ])("refuses %s: exit 1, the reason on stderr, nothing on stdout", async (_name, args, message) => {
    const res = await runToken(...args);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain(message);
  });

  it("refuses a config file of another environment, whatever the stack is called", async () => {
    const file = stackVariant("local-but-dev", { environment: "dev" });
    const res = await runToken("--stack", "local", "--config-file", file);
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("development tokens are signed only for the local environment");
  });
});

describe("npm run token -- --cloudflare", () => {
  it("prints the stand-in's token for the account, from the state folder's secret", async () => {
    const state = path.join(dir, "state");
    mkdirSync(path.join(state, "cloudflare"), { recursive: true });
    writeFileSync(path.join(state, "cloudflare", "token-secret"), "0123abcd\n");
    const res = await runToken("--cloudflare", "--account", "acct-1", "--state-dir", state);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toBe(`${await cloudflareApiToken("0123abcd", "acct-1")}\n`);
    expect(await verifyCloudflareApiToken("0123abcd", "acct-1", res.stdout.trim())).toBe(true);
  });

  it("says what to do when the target never ran on the state folder: exit 1, nothing on stdout", async () => {
    const res = await runToken("--cloudflare", "--state-dir", path.join(dir, "never-started"));
    expect(res.status).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(
      /no Cloudflare API stand-in secret in .*never-started.*: start the local target/,
    );
  });
});

describe("parseTokenArgs", () => {
  it("defaults to the development account, 24 h and the local stack", () => {
    expect(parseTokenArgs([])).toEqual({
      account: DEFAULT_DEV_ACCOUNT,
      expiresInSeconds: 24 * 3600,
      stack: "local",
      configFile: undefined,
    });
  });

  it.each([
    [["--account", "a"], { account: "a" }],
    [["--account", "x".repeat(64)], { account: "x".repeat(64) }],
    [["--account", "Team_A-01"], { account: "Team_A-01" }],
    [["--expires-in", "1"], { expiresInSeconds: 1 }],
    [["--expires-in", String(MAX_EXPIRES_IN_SECONDS)], { expiresInSeconds: 31_536_000 }],
    [["--stack", "local", "--config-file", "f.yaml"], { stack: "local", configFile: "f.yaml" }],
    [["--cloudflare"], { cloudflare: true, account: DEFAULT_DEV_ACCOUNT, stateDir: undefined }],
    [
      ["--cloudflare", "--account", "a", "--state-dir", "s"],
      { cloudflare: true, account: "a", stateDir: "s" },
    ],
  ])("accepts %j", (args, expected) => {
    expect(parseTokenArgs(args)).toMatchObject(expected);
  });

  it.each([
    [["--account", ""], /--account must be 1 to 64 characters .* \(got ""\)/],
    [["--account", "x".repeat(65)], /--account must be 1 to 64/],
    [["--account", "a.b"], /--account must be 1 to 64 .* \(got "a\.b"\)/],
    [["--account", "é"], /--account must be 1 to 64/],
    [["--expires-in", "0"], /--expires-in must be .* between 1 and 31536000 \(got "0"\)/],
    [["--expires-in", "31536001"], /between 1 and 31536000 \(got "31536001"\)/],
    [["--expires-in=-5"], /--expires-in must be/],
    [["--expires-in", "1.5"], /--expires-in must be/],
    [["--expires-in", "1e3"], /--expires-in must be/],
    [["--expires-in", ""], /--expires-in must be/],
    [["--stack", ""], /--stack must not be empty/],
    [["--account"], /argument missing/],
    [["extra"], /Unexpected argument 'extra'/],
    [["--cloudflare", "--expires-in", "60"], /--expires-in does not go with --cloudflare/],
    [["--cloudflare", "--stack", "local"], /--stack does not go with --cloudflare/],
    [["--state-dir", "s"], /--state-dir goes only with --cloudflare/],
    [["--cloudflare", "--account", "a b"], /--account must be 1 to 64/],
  ])("refuses %j", (args, message) => {
    expect(() => parseTokenArgs(args)).toThrow(message);
  });
});
