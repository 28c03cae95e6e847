import { describe, expect, it } from "vitest";
import { cloudflareApiToken, verifyCloudflareApiToken } from "../shared/cloudflare-token";
import {
  type BuildToStart,
  buildVariables,
  cloudflareApiAccess,
  type StartLimits,
  startRequest,
} from "./load-build";

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const build: BuildToStart = {
  account_id: "acct",
  worker_id: "w1",
  trigger_id: "t1",
  branch: "main",
  commit_hash: "a".repeat(40),
  production: true,
  status: "initializing",
  initializing_at: new Date(NOW),
  build_command: "npm run build",
  deploy_command: "npx wrangler deploy",
  non_production_deploy_command: "npx wrangler versions upload",
  root_directory: "/",
  build_caching_enabled: true,
  repo_url: "https://example.com/r.git",
  env: { API_KEY: "s3cret", MODE: "ci" },
  secretNames: ["API_KEY"],
};
const limits: StartLimits = { startTimeoutSeconds: 120, timeoutMinutes: 20, heartbeatTimeoutMs: 60_000 };

describe("startRequest", () => {
  it("asks the runner for the trigger's commands, variables and limits", () => {
    const start = startRequest(build, "uuid-1", "token", NOW, limits);
    expect(start).toEqual({
      startDeadline: NOW + 120_000,
      runDeadline: NOW + 20 * 60_000,
      request: {
        build_uuid: "uuid-1",
        callback_token: "token",
        repo_url: "https://example.com/r.git",
        commit_hash: "a".repeat(40),
        branch: "main",
        root_directory: "/",
        build_command: "npm run build",
        deploy_command: "npx wrangler deploy",
        env: { API_KEY: "s3cret", MODE: "ci" },
        secret_names: ["API_KEY"],
        cache_enabled: true,
        timeout_seconds: 1200,
        heartbeat_seconds: 20,
      },
    });
  });

  it.each([
    {
      why: "a non-production branch deploys with the non-production command",
      build: { production: false },
      extra: {},
      expected: { deploy_command: "npx wrangler versions upload" },
    },
    {
      why: "a callback URL is passed on when the Worker names one",
      build: {},
      extra: { callbackUrl: "https://builds.example.com" },
      expected: { callback_url: "https://builds.example.com" },
    },
    {
      why: "the time limit counts from initializing, not from a retried start",
      build: { initializing_at: new Date(NOW - 5 * 60_000) },
      extra: {},
      expected: { timeout_seconds: 900 },
    },
    {
      why: "a build already past its limit still gets at least a second",
      build: { initializing_at: new Date(NOW - 30 * 60_000) },
      extra: {},
      expected: { timeout_seconds: 1 },
    },
    {
      why: "a short heartbeat timeout still asks for a heartbeat every second",
      build: {},
      extra: { heartbeatTimeoutMs: 2000 },
      expected: { heartbeat_seconds: 1 },
    },
  ])("$why", ({ build: changes, extra, expected }) => {
    const { request } = startRequest({ ...build, ...changes }, "u", "t", NOW, { ...limits, ...extra });
    expect(request).toMatchObject(expected);
  });

  it("keeps the first attempt's start deadline on a retry, and counts from now without initializing_at", () => {
    const retried = startRequest({ ...build, initializing_at: null }, "u", "t", NOW, {
      ...limits,
      startDeadline: NOW + 5000,
    });
    expect(retried.startDeadline).toBe(NOW + 5000);
    expect(retried.runDeadline).toBe(NOW + 20 * 60_000);
    expect(startRequest(build, "u", "t", NOW, limits).request).not.toHaveProperty("callback_url");
  });
});

describe("the local Cloudflare API stand-in's variables", () => {
  const BASE = "http://127.0.0.1:8799/client/v4";
  const SECRET = "stand-in-secret-0123456789";
  const withApi = { CLOUDFLARE_API_BASE_URL: BASE, CLOUDFLARE_API_TOKEN_SECRET: SECRET };

  it("gives a build the base URL, its own account id and a token for that account, the token masked", async () => {
    const access = await cloudflareApiAccess(withApi, build);
    const token = await cloudflareApiToken(SECRET, "acct");
    expect(access).toEqual({ baseUrl: BASE, accountId: "acct", token });
    const { request } = startRequest(build, "u", "t", NOW, { ...limits, cloudflareApi: access });
    expect(request.env).toEqual({
      API_KEY: "s3cret",
      MODE: "ci",
      CLOUDFLARE_API_BASE_URL: BASE,
      CLOUDFLARE_ACCOUNT_ID: "acct",
      CLOUDFLARE_API_TOKEN: token,
    });
    expect(request.secret_names).toEqual(["API_KEY", "CLOUDFLARE_API_TOKEN"]);
    // The token opens the build's own account, and no other's.
    expect(await verifyCloudflareApiToken(SECRET, "acct", token)).toBe(true);
    expect(await verifyCloudflareApiToken(SECRET, "other-acct", token)).toBe(false);
  });

  it("takes the account id from the build: another account's build gets another token", async () => {
    const a = await cloudflareApiAccess(withApi, { account_id: "account-a" });
    const b = await cloudflareApiAccess(withApi, { account_id: "account-b" });
    expect(a?.accountId).toBe("account-a");
    expect(b?.accountId).toBe("account-b");
    expect(a?.token).not.toBe(b?.token);
    expect(await verifyCloudflareApiToken(SECRET, "account-b", b?.token ?? "")).toBe(true);
  });

  it.each([
    ["neither is set", {}],
    ["only the base URL is set", { CLOUDFLARE_API_BASE_URL: BASE }],
    ["only the token secret is set", { CLOUDFLARE_API_TOKEN_SECRET: SECRET }],
  ])("gives builds nothing when %s", async (_why, env) => {
    const access = await cloudflareApiAccess(env, build);
    expect(access).toBeUndefined();
    const { request } = startRequest(build, "u", "t", NOW, { ...limits, cloudflareApi: access });
    expect(request.env).toEqual({ API_KEY: "s3cret", MODE: "ci" });
    expect(request.secret_names).toEqual(["API_KEY"]);
  });

  it("lets a build variable of the same name win, and masks the platform's token only when it is the build's", async () => {
    const access = { baseUrl: BASE, accountId: "acct", token: "cfl_platform" };
    const own = buildVariables(
      {
        env: { CLOUDFLARE_API_TOKEN: "users-own-token", CLOUDFLARE_ACCOUNT_ID: "users-account" },
        secretNames: ["CLOUDFLARE_API_TOKEN"],
      },
      access,
    );
    expect(own).toEqual({
      env: {
        CLOUDFLARE_API_BASE_URL: BASE,
        CLOUDFLARE_ACCOUNT_ID: "users-account",
        CLOUDFLARE_API_TOKEN: "users-own-token",
      },
      secretNames: ["CLOUDFLARE_API_TOKEN"],
    });
    const url = buildVariables(
      { env: { CLOUDFLARE_API_BASE_URL: "https://api.example.com" }, secretNames: [] },
      access,
    );
    expect(url.env).toMatchObject({
      CLOUDFLARE_API_BASE_URL: "https://api.example.com",
      CLOUDFLARE_API_TOKEN: "cfl_platform",
    });
    expect(url.secretNames).toEqual(["CLOUDFLARE_API_TOKEN"]);
  });
});
