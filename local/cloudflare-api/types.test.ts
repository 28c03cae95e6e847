import { describe, expect, it } from "vitest";
import { workersDevSubdomain } from "./types";

describe("workersDevSubdomain", () => {
  it.each([
    ["a lowercase id", "local-dev-account", "local-dev-account"],
    ["digits and dashes", "0123-abcd", "0123-abcd"],
    ["a Cloudflare-style hex id", "023e105f4ecef8ad9ca31a8372d0c353", "023e105f4ecef8ad9ca31a8372d0c353"],
  ])("keeps %s as it is", (_, id, expected) => {
    expect(workersDevSubdomain(id)).toBe(expected);
  });

  it.each([
    ["capitals", "Acme", /^acme--[0-9a-f]{12}$/],
    ["an underscore", "team_a", /^team-a--[0-9a-f]{12}$/],
    ["a double dash", "a--b", /^a-b--[0-9a-f]{12}$/],
    ["a leading dash", "-x", /^x--[0-9a-f]{12}$/],
    ["64 characters", "x".repeat(64), /^x{40}--[0-9a-f]{12}$/],
    ["nothing readable", "___", /^account--[0-9a-f]{12}$/],
  ])("gives an id with %s a prefix and a hash: a DNS label", (_, id, pattern) => {
    const sub = workersDevSubdomain(id);
    expect(sub).toMatch(pattern);
    expect(sub.length).toBeLessThanOrEqual(63);
  });

  it("never gives two accounts the same subdomain", () => {
    const ids = ["Acme", "acme", "ACME", "team_a", "team-a", "team--a", "a--b", "a-b"];
    expect(new Set(ids.map(workersDevSubdomain)).size).toBe(ids.length);
  });
});
