/**
 * One port of the host's loopback, reachable from inside one build's network namespace at the same
 * address (`127.0.0.1:<port>`, and `[::1]:<port>` where the namespace has IPv6): how builds on the local
 * stack reach the Cloudflare API stand-in while every other port of the host's loopback stays out of reach.
 *
 * A network namespace cannot reach the host's loopback, but a unix socket is a file-system object. Two
 * halves, one pair per build:
 *
 * - the relay, in the runner: a unix socket in a folder of the build's own under the work root (root only,
 *   never bound into the build's mount namespace) whose every connection is piped to the host's
 *   `127.0.0.1:<port>`;
 * - the forwarder, a small Node process started inside the build's network namespace (`nsenter --net=`),
 *   as the network's unprivileged uid with no capabilities, tied to the runner's life (`--pdeathsig`): it
 *   listens on `127.0.0.1:<port>` there and pipes every connection to the relay's socket, which it reaches
 *   through a descriptor of the socket's folder the runner hands it, not by a path it could walk itself.
 *
 * The forwarder listens before the build's first command runs, and is killed (and the socket removed) when
 * the build's sandbox is disposed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import { SYSTEM_PATH } from "./host-tools";

/** A forwarder that does not listen by then fails the sandbox's preparation (which is tried once more). */
const READY_TIMEOUT_MS = 10_000;
const SOCKET_NAME = "api.sock";
/** The descriptor of the socket's folder in the forwarder. */
const DIR_FD = 3;
/**
 * Connections one build may hold open at once (wrangler needs a few): each is two of the runner's
 * descriptors, which all its builds share. More are closed at once.
 */
export const MAX_CONNECTIONS = 64;

/**
 * The port of a `--cloudflare-api` value: an origin on the host's IPv4 loopback, `http://127.0.0.1:<port>`
 * (a trailing `/` allowed, nothing more). Throws saying what is wrong.
 */
export function loopbackPort(origin: string): number {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`the Cloudflare API must be http://127.0.0.1:<port> (got ${origin})`);
  }
  const port = Number(url.port);
  if (
    url.protocol !== "http:" ||
    url.hostname !== "127.0.0.1" ||
    !url.port ||
    !Number.isInteger(port) ||
    port < 1 ||
    url.pathname !== "/" ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    throw new Error(`the Cloudflare API must be http://127.0.0.1:<port>, with no path (got ${origin})`);
  }
  return port;
}

/**
 * Pipes two connected sockets into each other, half-closes passed on (both are made with `allowHalfOpen`),
 * and an error on either ends both. The forwarder has its own copy, in plain JavaScript.
 */
function splice(a: Socket, b: Socket): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on("error", () => {
      from.destroy();
      to.destroy();
    });
    from.pipe(to);
  }
}

/**
 * The forwarder, run by `node -e` with the port as its argument (so it needs neither the runner's sources
 * nor its loader). It reaches the relay through the folder descriptor it inherits as fd 3. It writes
 * `ready` once it listens; the IPv6 address is optional (a namespace without IPv6 has no `::1`).
 */
export const FORWARDER_SCRIPT = `"use strict";
const net = require("node:net");
const port = Number(process.argv[1]);
const target = "/proc/self/fd/${DIR_FD}/${SOCKET_NAME}";
let open = 0;
const splice = (a, b) => {
  for (const [from, to] of [[a, b], [b, a]]) {
    from.on("error", () => {
      from.destroy();
      to.destroy();
    });
    from.pipe(to);
  }
};
const listen = (host, required) =>
  new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true }, (client) => {
      if (open >= ${MAX_CONNECTIONS}) return client.destroy();
      open++;
      client.once("close", () => open--);
      splice(client, net.createConnection({ path: target, allowHalfOpen: true }));
    });
    server.on("error", (error) => (required || server.listening ? reject(error) : resolve()));
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
listen("127.0.0.1", true)
  .then(() => listen("::1", false))
  .then(() => process.stdout.write("ready\\n"))
  .catch((error) => {
    process.stderr.write(String(error && error.message) + "\\n");
    process.exit(1);
  });
`;

export interface ApiForwardOptions {
  /** The host's loopback port that the build's `127.0.0.1:<port>` reaches. */
  port: number;
  /** The build's network namespace (`/run/netns/<name>`), for `nsenter --net=`. */
  netnsPath: string;
  /** A folder for the relay's socket: made here, under a folder only root may walk; removed by `close`. */
  dir: string;
  /** The unprivileged uid (and gid) the forwarder runs as. */
  uid: number;
  setpriv: string;
  nsenter: string;
  /** Ends the forwarder's command line (the build's uuid), so that it can be told apart on the host. */
  label: string;
}

/** A running relay and forwarder for one build. */
export class ApiForward {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: ApiForwardOptions,
    private readonly relay: Server,
    private readonly connections: Set<Socket>,
    private readonly forwarder: ChildProcess,
    /** Milliseconds from the forwarder's spawn until it listened. */
    readonly startMs: number,
  ) {}

  /** The host's loopback port it forwards to, and listens on in the namespace. */
  get port(): number {
    return this.options.port;
  }

  /** The forwarder's pid on the host. */
  get pid(): number {
    return this.forwarder.pid as number;
  }

  /** Starts the relay, then the forwarder; resolves once the forwarder listens in the namespace. */
  static async start(options: ApiForwardOptions): Promise<ApiForward> {
    const { dir, port, uid } = options;
    // Root's, walkable (not listable) by the forwarder's uid, which only ever gets here through the
    // descriptor: every folder above is root's alone.
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    chmodSync(dir, 0o711);
    const socketFile = path.join(dir, SOCKET_NAME);
    rmSync(socketFile, { force: true });
    const connections = new Set<Socket>();
    const relay = createServer({ allowHalfOpen: true }, (inbound) => {
      const upstream = createConnection({ host: "127.0.0.1", port, allowHalfOpen: true });
      for (const socket of [inbound, upstream]) {
        connections.add(socket);
        socket.once("close", () => connections.delete(socket));
      }
      splice(inbound, upstream);
    });
    relay.maxConnections = MAX_CONNECTIONS;
    const dirFd = openSync(dir, "r");
    let forwarder: ChildProcess | undefined;
    try {
      // Bound through the descriptor: the socket's own path may be longer than a unix socket's 107 bytes.
      await new Promise<void>((resolve, reject) => {
        relay.once("error", reject);
        relay.listen(`/proc/self/fd/${dirFd}/${SOCKET_NAME}`, () => {
          relay.off("error", reject);
          resolve();
        });
      });
      relay.on("error", () => undefined);
      chownSync(socketFile, uid, uid);
      chmodSync(socketFile, 0o600);
      const startedAt = performance.now();
      // nsenter runs as root (entering the namespace needs it), then setpriv drops to the uid and sets the
      // parent-death signal again after that (a change of uid clears it): the runner's death ends the
      // forwarder, whichever program of the chain is running at the time.
      forwarder = spawn(
        options.setpriv,
        [
          "--pdeathsig=SIGKILL",
          "--",
          options.nsenter,
          `--net=${options.netnsPath}`,
          "--",
          options.setpriv,
          `--reuid=${uid}`,
          `--regid=${uid}`,
          "--clear-groups",
          "--inh-caps=-all",
          "--no-new-privs",
          "--pdeathsig=SIGKILL",
          "--",
          process.execPath,
          "-e",
          FORWARDER_SCRIPT,
          String(port),
          "cloudflare-api-forward",
          options.label,
        ],
        { env: { PATH: SYSTEM_PATH }, stdio: ["ignore", "pipe", "pipe", dirFd] },
      );
      await ready(forwarder);
      const startMs = Math.round(performance.now() - startedAt);
      const started = forwarder;
      return new ApiForward(options, relay, connections, started, startMs);
    } catch (error) {
      forwarder?.kill("SIGKILL");
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the Cloudflare API forward could not start: ${(error as Error).message}`);
    } finally {
      closeSync(dirFd);
    }
  }

  /** Kills the forwarder, closes the relay and its connections, and removes the socket. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const { forwarder } = this;
      const exited = new Promise<void>((resolve) => {
        if (forwarder.exitCode !== null || forwarder.signalCode !== null) return resolve();
        forwarder.once("exit", () => resolve());
      });
      forwarder.kill("SIGKILL");
      await exited;
      const closed = new Promise<void>((resolve) => this.relay.close(() => resolve()));
      for (const socket of this.connections) socket.destroy();
      await closed;
      rmSync(this.options.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}

/** Resolves once the forwarder says `ready`; rejects with its words when it exits or is slow. */
function ready(child: ChildProcess): Promise<void> {
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  return new Promise<void>((resolve, reject) => {
    let stdout = "";
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new Error(`it did not listen within ${READY_TIMEOUT_MS / 1000} s: ${stderr.trim()}`)),
      READY_TIMEOUT_MS,
    );
    child.once("error", fail);
    child.once("exit", (code, signal) =>
      fail(new Error(`the forwarder exited (${code ?? signal}): ${stderr.trim()}`)),
    );
    (child.stdout as Readable).on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("ready\n")) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve();
      }
    });
  });
}
