import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import pg from "pg";
import { devTokenSecretOf, signDevToken } from "../local/dev-token";
import { type LocalTarget, startLocalTarget } from "../local/target/runner";
import { createTestRepo } from "../workers-src/builds/runner/testing";

const REPO = path.resolve(__dirname, "..");
const PROJECT = "workers-platform";

export interface GitRepo {
  /** `file://` URL of the bare repository. */
  url: string;
  /** Writes `files` (path → content), commits and pushes to `branch`; answers the sha. */
  commit(files: Record<string, string>, message: string, branch?: string): Promise<string>;
}

export interface BuildsPlatform {
  target: LocalTarget;
  /** The Client Worker (REST API). */
  api: string;
  /** The Build Management Worker (runner callbacks). */
  management: string;
  token(
    account: string,
    options?: { expiresInSeconds?: number; secret?: string; now?: number },
  ): Promise<string>;
  /** Runs a query on the platform's database as the superuser, with the platform's schema first. */
  sql<R = Record<string, unknown>>(query: string, params?: unknown[]): Promise<R[]>;
  gitRepo(): Promise<GitRepo>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Changes to the `local` stack's `builds` config (e.g. a short timeout), merged over the stack file. */
  builds?: Record<string, unknown>;
  log?: (line: string) => void;
  /**
   * Return once the target reports ready, without waiting for its build runners to answer their health
   * check. @default false (tests start builds at once, and a runner still starting would delay them)
   */
  runnersStarting?: boolean;
}

/**
 * The builds platform on the local target, as `npm start` runs it for the `local` stack: its own embedded
 * PostgreSQL, workerd and build runner under a temporary state folder.
 */
export async function startBuildsPlatform(options: StartOptions = {}): Promise<BuildsPlatform> {
  const dir = mkdtempSync(path.join(tmpdir(), "builds-platform-"));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its data folder
  let configFile: string | undefined;
  if (options.builds) {
    const stack = yaml.load(readFileSync(path.join(REPO, "stacks", "Pulumi.local.yaml"), "utf8")) as {
      config: Record<string, unknown>;
    };
    const key = `${PROJECT}:builds`;
    stack.config[key] = { ...(stack.config[key] as object), ...options.builds };
    configFile = path.join(dir, "Pulumi.local.yaml");
    writeFileSync(configFile, yaml.dump(stack));
  }
  const target = await startLocalTarget({
    stateDir: path.join(dir, "state"),
    configFile,
    log: options.log ?? (() => {}),
  });
  if (!options.runnersStarting) {
    try {
      await target.runnersReady;
    } catch (error) {
      await target.stop();
      throw error;
    }
  }
  const name = (suffix: string) => {
    const found = Object.keys(target.workers).find((w) => w.endsWith(suffix));
    if (!found) throw new Error(`the local stack has no Worker *${suffix}`);
    return target.workers[found] as string;
  };
  const secret = devTokenSecretOf(target.plan.services);
  if (!secret) throw new Error("the local stack declares no development tokens (dev-token local service)");
  const dbUrl = new URL(target.postgres ?? "");
  dbUrl.pathname = "/builds";
  const pool = new pg.Pool({ connectionString: dbUrl.toString(), max: 4, options: "-c search_path=builds" });
  // Idle connections end with the server at stop: not an error of any test.
  pool.on("error", () => undefined);
  return {
    target,
    api: name("-builds-client"),
    management: name("-builds-management"),
    async token(account, opts = {}) {
      return signDevToken(opts.secret ?? secret, account, opts);
    },
    async sql<R>(query: string, params: unknown[] = []) {
      return (await pool.query(query, params)).rows as R[];
    },
    async gitRepo() {
      const repo = createTestRepo(mkdtempSync(path.join(dir, "repo-")));
      return {
        url: repo.url,
        async commit(files, message, branch = "main") {
          return repo.commit(files, { message, branch });
        },
      };
    },
    async stop() {
      await pool.end();
      await target.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
