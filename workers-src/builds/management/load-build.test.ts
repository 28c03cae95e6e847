import { describe, expect, it } from "vitest";
import { type BuildToStart, type StartLimits, startRequest } from "./load-build";

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
