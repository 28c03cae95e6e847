import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./stack-file";

describe("npm run plan", () => {
  it("prints the local target's plan with secrets masked and module sources as digests", () => {
    const res = spawnSync(
      process.execPath,
      ["-r", "./local/register.cjs", "local/plan-cli.ts", "--stack", "local"],
      {
        cwd: REPO_ROOT,
        encoding: "utf8",
      },
    );
    expect(res.status).toBe(0);
    const plan = JSON.parse(res.stdout) as {
      workers: { name: string; bindings: Record<string, string>; modules: { contents: string }[] }[];
      hyperdrives: { origin: { password: string; user: string } }[];
    };
    const client = plan.workers.find((w) => w.name === "workers-platform-local-builds-client");
    expect(client?.bindings.API_JWT_SECRET).toBe("[secret]");
    expect(client?.modules[0]?.contents).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.hyperdrives).toEqual([
      expect.objectContaining({
        origin: expect.objectContaining({ user: "builds_app", password: "[secret]" }),
      }),
    ]);
    expect(res.stdout).not.toContain("local-development-jwt-secret");
    expect(res.stdout).not.toMatch(/dev-[0-9a-f]{24}/);
  });
});
