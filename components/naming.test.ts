import { describe, expect, it } from "vitest";
import { MAX_PHYSICAL_NAME, physicalName } from "./naming";

describe("physicalName", () => {
  it.each([
    ["joins project, stack and name", ["app", "prod", "client"], "app-prod-client"],
    ["lowercases", ["App", "Prod", "Client"], "app-prod-client"],
    ["turns other characters into dashes", ["my_app", "dev.1", "a b"], "my-app-dev-1-a-b"],
    ["collapses and trims dashes", ["-app-", "--dev", "x--"], "app-dev-x"],
  ])("%s", (_case, [project, stack, name], expected) => {
    expect(physicalName(project!, stack!, name!)).toBe(expected);
  });

  it("caps long names and keeps them distinct with a hash suffix", () => {
    const a = physicalName("workers-platform", "staging", "builds-management-with-a-very-long-suffix-a");
    const b = physicalName("workers-platform", "staging", "builds-management-with-a-very-long-suffix-b");
    expect(a).toHaveLength(MAX_PHYSICAL_NAME);
    expect(b).toHaveLength(MAX_PHYSICAL_NAME);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^workers-platform-staging-builds-management-with-a-very-[0-9a-f]{8}$/);
  });

  it("is stable for the same input and honours a smaller cap", () => {
    expect(physicalName("p", "s", "x".repeat(40), 20)).toBe(physicalName("p", "s", "x".repeat(40), 20));
    expect(physicalName("p", "s", "x".repeat(40), 20)).toHaveLength(20);
  });
});
