import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { SECRET_KEYS } from "../stacks/config";
import { projectName, REPO_ROOT, readStackFile, stackFilePath } from "./stack-file";

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
    const management = plan.workers.find((w) => w.name === "workers-platform-local-builds-management");
    expect(client?.bindings.API_JWT_SECRET).toBe("[secret]");
    expect(client?.bindings.BUILD_VARIABLES_KEY).toBe("[secret]");
    expect(management?.bindings.RUNNER_TOKEN).toBe("[secret]");
    expect(management?.bindings.BUILD_VARIABLES_KEY).toBe("[secret]");
    // Plain vars stay readable: the workerd test project takes its bindings from this plan.
    expect(management?.bindings.RUNNER_URL).toBe("local");
    expect(client?.bindings.RELEASE).toBe("unreleased");
    expect(client?.modules[0]?.contents).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.hyperdrives).toEqual([
      expect.objectContaining({
        origin: expect.objectContaining({ user: "builds_app", password: "[secret]" }),
      }),
    ]);
    const { config } = readStackFile(stackFilePath("local"), projectName());
    for (const key of SECRET_KEYS) {
      const value = config[`workers-platform:${key}`];
      expect(value).toEqual(expect.any(String));
      expect(res.stdout).not.toContain(value);
    }
    expect(res.stdout).not.toMatch(/dev-[0-9a-f]{24}/);
  });
});
