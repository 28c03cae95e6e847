import { spawn } from "node:child_process";
import { REPO_ROOT } from "../local/stack-file";

/** Runs one of the project's TypeScript CLIs as `npm run` does, and collects its exit status and output. */
export function runCli(
  script: string,
  ...args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", "./local/register.cjs", script, ...args], {
      cwd: REPO_ROOT,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
