import { randomInt } from "node:crypto";
import net from "node:net";
import type { LocalPlan } from "../miniflare-plan";
import { hyperdriveOriginUrl } from "../postgres-apply";
import type { Origin, OriginConnection, OriginError, OriginSink } from "./origin";
import { type Acquisition, OriginPool, type OriginPoolOptions, type OriginPoolStats } from "./origin-pool";
import {
  authenticationCleartextPassword,
  authenticationOk,
  backendKeyData,
  CANCEL_REQUEST,
  eachMessage,
  equalSecrets,
  errorResponse,
  GSSENC_REQUEST,
  MessageReader,
  negotiateProtocolVersion,
  type PgError,
  ProtocolError,
  parameterStatus,
  parseFirstMessage,
  readCStrings,
  readyForQuery,
  SSL_REQUEST,
  sync,
} from "./pg-wire";

/**
 * The local Hyperdrive: a PostgreSQL endpoint that a Hyperdrive binding's Worker connects to, and that
 * serves every client from a pool of warm connections to the origin, in transaction mode as Hyperdrive
 * does. A client does the startup handshake with the pool itself (a cleartext password over loopback,
 * checked against the origin's); each of its transactions, or each statement outside one, then runs on a
 * pooled origin connection that it holds until the origin reports it idle again. The next holder's first
 * write starts with `DISCARD ALL`; a connection left inside a transaction is rolled back and reset at
 * once. So `SET` outside a transaction, SQL `PREPARE`, temporary tables, session advisory locks and
 * `LISTEN` do not outlive the transaction, as Hyperdrive documents; named prepared statements of the
 * extended protocol (node-postgres' `name`) are prepared again on whichever connection the client gets.
 */

export interface HyperdrivePoolOptions extends OriginPoolOptions {
  origin: Origin;
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 0: a free port */
  port?: number;
}

export interface HyperdrivePool {
  host: string;
  port: number;
  /** What a Hyperdrive binding is given: the origin's credentials and database, the pool's address. */
  url: string;
  stats(): OriginPoolStats & { clients: number };
  /** Ends every client session and origin connection, and stops listening. */
  close(): Promise<void>;
}

const code = (c: string) => c.charCodeAt(0);
const [PARSE, CLOSE, TERMINATE, PASSWORD] = ["P", "C", "X", "p"].map(code) as [
  number,
  number,
  number,
  number,
];
const ASK_PASSWORD = authenticationCleartextPassword();
const READY = readyForQuery("I");
const SYNC = sync();
/** Extended-query messages that the origin answers only at the next Sync or Flush. */
const WAITS_FOR_SYNC = new Set(["P", "B", "D", "E", "C"].map(code));

class ClientSession implements OriginSink {
  readonly key = { pid: 0, secret: randomInt(2 ** 31) };
  private readonly reader = new MessageReader(false);
  private phase: "startup" | "password" | "opening" | "ready" | "closed" = "startup";
  private user = "";
  private origin?: OriginConnection;
  private acquiring?: Acquisition;
  private queued: Buffer[] = [];
  /** Extended-query messages that ask for nothing yet, kept until the Sync or Flush that follows them. */
  private held: Buffer[] = [];
  /** Named prepared statements: name → Parse message, prepared again on each connection the client gets. */
  private readonly statements = new Map<string, Buffer>();

  constructor(
    private readonly socket: net.Socket,
    private readonly server: PoolServer,
    pid: number,
  ) {
    this.key.pid = pid;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => this.end());
  }

  get attached(): OriginConnection | undefined {
    return this.origin;
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  idle(): void {
    const conn = this.origin;
    if (!conn) return;
    this.origin = undefined;
    this.server.pool.release(conn);
  }

  lost(): void {
    this.origin = undefined;
    this.fatal({
      severity: "FATAL",
      code: "08006",
      message: "the local Hyperdrive lost its connection to the origin database",
    });
  }

  /** The client went away or said Terminate: its origin connection goes back (rolled back, or closed). */
  end(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.acquiring?.cancel();
    const conn = this.origin;
    this.origin = undefined;
    if (conn) this.server.pool.release(conn);
    this.server.sessions.delete(this.key.pid);
    this.socket.end();
  }

  fatal(e: PgError): void {
    if (this.phase === "closed") return;
    this.socket.write(
      errorResponse({ severity: "FATAL", code: e.code, message: e.message, detail: e.detail, hint: e.hint }),
    );
    this.end();
  }

  private receive(chunk: Buffer): void {
    this.reader.push(chunk);
    try {
      this.drain();
    } catch (err) {
      this.fatal({
        severity: "FATAL",
        code: "08P01",
        message: err instanceof ProtocolError ? err.message : `protocol violation: ${(err as Error).message}`,
      });
    }
  }

  private drain(): void {
    while (this.phase === "startup" || this.phase === "password") {
      const msg = this.reader.next();
      if (!msg) return;
      if (this.phase === "startup") this.startup(msg);
      else this.password(msg);
    }
    if (this.phase !== "ready") return;
    const data = this.reader.all();
    if (data) this.fromClient(data);
  }

  private startup(msg: Buffer): void {
    const first = parseFirstMessage(msg);
    if (first.code === SSL_REQUEST || first.code === GSSENC_REQUEST) {
      this.socket.write("N"); // loopback: no TLS, as Miniflare's own Hyperdrive socket
      return;
    }
    if (first.code === CANCEL_REQUEST && first.key) {
      this.server.cancel(first.key.readInt32BE(0), first.key.readInt32BE(4));
      this.phase = "closed";
      this.socket.end();
      return;
    }
    if (first.code >> 16 !== 3) {
      this.fatal({
        severity: "FATAL",
        code: "08P01",
        message: `unsupported frontend protocol ${first.code >> 16}.${first.code & 0xffff}`,
      });
      return;
    }
    const origin = this.server.pool.origin;
    this.user = first.params.user ?? "";
    if (this.user !== origin.user) {
      this.fatal({
        severity: "FATAL",
        code: "28000",
        message: `role "${this.user}" is not the user of this Hyperdrive config (it connects as "${origin.user}")`,
      });
      return;
    }
    const database = first.params.database ?? this.user;
    if (database !== origin.database) {
      this.fatal({
        severity: "FATAL",
        code: "3D000",
        message: `database "${database}" is not the database of this Hyperdrive config ("${origin.database}")`,
      });
      return;
    }
    const unrecognized = Object.keys(first.params).filter((k) => k.startsWith("_pq_."));
    if ((first.code & 0xffff) > 0 || unrecognized.length > 0)
      this.write(negotiateProtocolVersion(0, unrecognized));
    this.reader.typed = true;
    this.phase = "password";
    this.write(ASK_PASSWORD);
  }

  private password(msg: Buffer): void {
    const [password] = msg[0] === PASSWORD ? readCStrings(msg, 5) : [];
    if (password === undefined || !equalSecrets(password, this.server.pool.origin.password)) {
      this.fatal({
        severity: "FATAL",
        code: "28P01",
        message: `password authentication failed for user "${this.user}"`,
      });
      return;
    }
    this.phase = "opening";
    this.server.welcome().then(
      (welcome) => {
        if (this.phase !== "opening") return;
        this.write(Buffer.concat([welcome, backendKeyData(this.key.pid, this.key.secret), READY]));
        this.phase = "ready";
        this.receive(Buffer.alloc(0));
      },
      (err: OriginError) => this.fatal(err),
    );
  }

  private fromClient(data: Buffer): void {
    let end = data.length;
    let terminated = false;
    let asks = false;
    eachMessage(data, (type, _body, start) => {
      if (terminated) return;
      if (type === TERMINATE) {
        terminated = true;
        end = start;
      } else if (!WAITS_FOR_SYNC.has(type)) asks = true;
    });
    if (end > 0) this.held.push(data.subarray(0, end));
    // Nothing answers Parse, Bind, Describe, Execute or Close before a Sync or Flush: they go out with it,
    // in one write, and only then is an origin connection taken.
    if (asks && this.held.length > 0) {
      const messages = this.held.length === 1 ? (this.held[0] as Buffer) : Buffer.concat(this.held);
      this.held = [];
      if (this.origin) this.forward(messages);
      else {
        this.queued.push(messages);
        if (!this.acquiring) this.attach();
      }
    }
    if (terminated) this.end();
  }

  private forward(data: Buffer, first?: { messages: Buffer; answers: number }): void {
    eachMessage(data, (type, body, start, end) => {
      if (type === PARSE) {
        const [name] = readCStrings(body);
        if (name) this.statements.set(name, Buffer.from(data.subarray(start, end)));
      } else if (type === CLOSE && body[0] === code("S")) {
        const [name] = readCStrings(body, 1);
        if (name) this.statements.delete(name);
      }
    });
    this.origin?.send(data, first);
  }

  private attach(): void {
    const acquiring = this.server.pool.acquire();
    this.acquiring = acquiring;
    acquiring.connection.then(
      (conn) => {
        this.acquiring = undefined;
        if (this.phase === "closed") {
          this.server.pool.release(conn);
          return;
        }
        this.origin = conn;
        conn.sink = this;
        // The client's named statements, which the reset after their last holder deallocated, are
        // prepared again ahead of its messages, in the same write; their answers are kept from it.
        const again =
          this.statements.size > 0
            ? { messages: Buffer.concat([...this.statements.values(), SYNC]), answers: 1 }
            : undefined;
        const queued = Buffer.concat(this.queued);
        this.queued = [];
        this.forward(queued, again);
      },
      (err: OriginError) => {
        this.acquiring = undefined;
        this.fatal(err);
      },
    );
  }
}

class PoolServer {
  readonly sessions = new Map<number, ClientSession>();
  private nextPid = 1;
  private welcomed?: Buffer;

  constructor(readonly pool: OriginPool) {}

  accept(socket: net.Socket): void {
    const pid = this.nextPid++;
    this.sessions.set(pid, new ClientSession(socket, this, pid));
  }

  /**
   * AuthenticationOk and the origin's ParameterStatus values, which every client gets at startup; the
   * first client has a connection opened to learn them.
   */
  async welcome(): Promise<Buffer> {
    if (!this.welcomed) {
      if (!this.pool.params) this.pool.release(await this.pool.acquire().connection);
      const params = this.pool.params ?? [];
      this.welcomed = Buffer.concat([authenticationOk(), ...params.map(([k, v]) => parameterStatus(k, v))]);
    }
    return this.welcomed;
  }

  /** A CancelRequest for a client session goes to the origin backend that runs its query, if any. */
  cancel(pid: number, secret: number): void {
    const session = this.sessions.get(pid);
    const conn = session?.attached;
    if (session?.key.secret === secret && conn) this.pool.cancel(conn);
  }

  close(): void {
    for (const session of [...this.sessions.values()])
      session.fatal({
        severity: "FATAL",
        code: "57P01",
        message: "terminating connection: the local target is stopping",
      });
  }
}

/** Starts a pool for one origin, listening on loopback. */
export async function startHyperdrivePool(options: HyperdrivePoolOptions): Promise<HyperdrivePool> {
  const pool = new OriginPool(options.origin, options);
  const server = new PoolServer(pool);
  const listener = net.createServer((socket) => server.accept(socket));
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (listener.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host,
    port,
    url: hyperdriveOriginUrl(options.origin, { host, port }),
    stats: () => ({ ...pool.stats(), clients: server.sessions.size }),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
        server.close();
        await pool.close();
        await stopped;
      })();
      return closing;
    },
  };
}

/** Pools of a plan's Hyperdrive configs in front of the local PostgreSQL at `server`. */
export interface HyperdrivePools {
  /** Hyperdrive config id → the URL its bindings get. */
  urls: Map<string, string>;
  pools: Map<string, HyperdrivePool>;
  close(): Promise<void>;
}

/**
 * One pool per Hyperdrive config of the plan, each connecting to the local server as the config's origin
 * user, at most `originConnectionLimit` connections (20 when the config sets none, Hyperdrive's limit on
 * the free plan).
 */
export async function startHyperdrivePools(
  hyperdrives: LocalPlan["hyperdrives"],
  server: { host: string; port: number },
  options: OriginPoolOptions = {},
): Promise<HyperdrivePools> {
  const pools = new Map<string, HyperdrivePool>();
  const close = () => Promise.all([...pools.values()].map((p) => p.close())).then(() => undefined);
  try {
    for (const h of hyperdrives) {
      const pool = await startHyperdrivePool({
        ...options,
        maxConnections: h.originConnectionLimit ?? options.maxConnections,
        origin: { ...h.origin, host: server.host, port: server.port },
      });
      pools.set(h.id, pool);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { urls: new Map([...pools].map(([id, p]) => [id, p.url])), pools, close };
}
