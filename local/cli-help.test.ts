import { describe, expect, it } from "vitest";
import { runCli } from "../test/cli";
import { exitOnHelp } from "./cli-args";

describe("--help on every CLI", () => {
  it.each([
    ["local/start-cli.ts", "usage: npm start --"],
    ["local/synth-cli.ts", "usage: npm run synth --"],
    ["local/token-cli.ts", "usage: npm run token --"],
    ["local/demo-cli.ts", "usage: npm run demo --"],
    ["local/plan-cli.ts", "usage: npm run plan --"],
    ["local/lock-migrations-cli.ts", "usage: npm run lock:migrations"],
  ])("%s prints its usage on stdout and exits 0, doing nothing else", async (script, usage) => {
    for (const flag of ["--help", "-h"]) {
      const { status, stdout, stderr } = await runCli(script, flag);
      expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
      expect(stdout.startsWith(usage)).toBe(true);
      expect(stdout.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("exitOnHelp", () => {
  it("does nothing without the flag, or when it comes after --", () => {
    expect(() => exitOnHelp("usage", ["--stack", "dev"])).not.toThrow();
    expect(() => exitOnHelp("usage", ["--", "--help"])).not.toThrow();
  });
});
