import net from "node:net";
import {
  eachMessage,
  MessageReader,
  md5Password,
  message,
  type PgError,
  parseErrorFields,
  passwordMessage,
  query,
  readCStrings,
  ScramClient,
  startupMessage,
  terminate,
} from "./pg-wire";

/**
 * The origin side of the local Hyperdrive: an authenticated connection to the PostgreSQL server, which
 * tells whether it stands between transactions and forwards its answers to the client holding it.
 */

/** A Hyperdrive config's origin, as the graph declares it. */
export interface Origin {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

/** A failure to give a client an origin connection, as the client should read it. */
export class OriginError extends Error implements PgError {
  override name = "OriginError";
  readonly severity = "FATAL" as const;
  constructor(
    readonly code: string,
    message: string,
    readonly detail?: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const code = (c: string) => c.charCodeAt(0);
const [Q, F, S, Z, E] = ["Q", "F", "S", "Z", "E"].map(code) as [number, number, number, number, number];
/** Extended-query messages: after them, nothing is finished until a Sync. */
const EXTENDED = new Set(["P", "B", "D", "E", "C", "H"].map(code));
const DISCARD_ALL = query("DISCARD ALL");

/** Where the answers of an origin connection go while a client holds it. */
export interface OriginSink {
  /** Whole messages for the client. */
  write(data: Buffer): void;
  /** Everything sent was answered and no transaction is open: the connection may go back to the pool. */
  idle(): void;
  /** The origin closed the connection. */
  lost(): void;
}

export class OriginConnection {
  /** Answers (ReadyForQuery) still to come for what the client sent. */
  pending = 0;
  /** Extended-query messages were sent since the last Sync. */
  unsynced = false;
  /** Transaction status of the last ReadyForQuery: idle, in a transaction, in a failed transaction. */
  status = "I";
  sink?: OriginSink;
  closed = false;
  idleTimer?: NodeJS.Timeout;
  /** Called once when the socket closes. */
  onClose?: () => void;
  /** The current holder sent something: its session state must not reach the next holder. */
  used = false;
  /** A previous holder's session state may be left: the next write starts with `DISCARD ALL`. */
  stale = false;
  /** One of the pool's own statements failed: the connection is closed rather than reused. */
  failed = false;
  private readonly reader = new MessageReader();
  /** ReadyForQuery messages still to come for the pool's own statements, whose answers no client sees. */
  private internal = 0;
  private internalFailed = false;
  private internalDone?: (ok: boolean) => void;
  private answered?: (ok: boolean) => void;

  constructor(
    private readonly socket: net.Socket,
    /** BackendKeyData of the origin's backend, for cancel requests. */
    readonly key: { pid: number; secret: number },
    /** ParameterStatus values the origin reported at startup. */
    readonly params: [string, string][],
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", () => undefined); // "close" follows
    socket.on("close", () => {
      this.closed = true;
      clearTimeout(this.idleTimer);
      this.finishInternal(false);
      this.answered?.(false);
      this.sink?.lost();
      this.onClose?.();
    });
  }

  /** Whether the connection is usable and quiet: open, every query answered, none half-sent. */
  private get settled(): boolean {
    return !this.closed && !this.failed && this.pending === 0 && !this.unsynced && this.internal === 0;
  }

  /** Whether the connection stands between requests: settled, and no transaction open. */
  get clean(): boolean {
    return this.settled && this.status === "I";
  }

  /** Whether only a transaction is left open: settled, so a ROLLBACK is enough to make it clean. */
  get inTransaction(): boolean {
    return this.settled && this.status !== "I";
  }

  /**
   * Forwards a client's whole messages, counting the answers they ask for. The pool's own messages go
   * ahead of them in the same write, their answers kept from the client: the reset a previous holder left
   * due, then `first` (statements prepared again), whose answers end in `first.answers` ReadyForQuery
   * messages.
   */
  send(data: Buffer, first?: { messages: Buffer; answers: number }): void {
    eachMessage(data, (type) => {
      if (type === Q || type === F) this.pending++;
      else if (type === S) {
        this.pending++;
        this.unsynced = false;
      } else if (EXTENDED.has(type)) this.unsynced = true;
    });
    const ahead: Buffer[] = [];
    if (this.stale) {
      ahead.push(DISCARD_ALL);
      this.internal++;
      this.stale = false;
    }
    if (first && first.answers > 0) {
      ahead.push(first.messages);
      this.internal += first.answers;
    }
    this.used = true;
    this.socket.write(ahead.length > 0 ? Buffer.concat([...ahead, data]) : data);
  }

  /**
   * Sends the pool's own messages, which end in `answers` ReadyForQuery messages; their answers are not
   * forwarded. Resolves whether none of them failed. Whatever is sent after them goes to the sink.
   */
  run(messages: Buffer, answers: number): Promise<boolean> {
    this.internal += answers;
    const done = new Promise<boolean>((resolve) => {
      this.internalDone = resolve;
    });
    this.socket.write(messages);
    return done;
  }

  /** Ends the session politely (Terminate), or at once when `abort`, which also aborts its transaction. */
  close(abort = false): void {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    if (abort) this.socket.destroy();
    else this.socket.end(terminate());
  }

  /**
   * Resolves once every answer asked for has arrived, with no holder to forward them to: true, or false
   * when the connection closed first.
   */
  whenAnswered(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.pending <= 0 && this.internal === 0 && !this.unsynced) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.answered = resolve;
    });
  }

  private finishInternal(ok: boolean): void {
    const done = this.internalDone;
    this.internalDone = undefined;
    if (!ok || this.internalFailed) this.failed = true;
    this.internalFailed = false;
    done?.(!this.failed);
  }

  private receive(chunk: Buffer): void {
    this.reader.push(chunk);
    let data: Buffer | undefined;
    try {
      data = this.reader.all();
    } catch {
      this.close(true);
      return;
    }
    if (!data) return;
    let from = 0;
    const whole = data;
    const forward = (end: number) => {
      if (end > from) this.sink?.write(whole.subarray(from, end));
    };
    eachMessage(whole, (type, body, start, end) => {
      if (this.internal > 0) {
        forward(start);
        from = end;
        if (type === E) this.internalFailed = true;
        if (type === Z) {
          this.status = String.fromCharCode(body[0] as number);
          if (--this.internal === 0) this.finishInternal(true);
        }
      } else if (type === Z) {
        this.pending--;
        this.status = String.fromCharCode(body[0] as number);
      }
    });
    forward(whole.length);
    if (this.sink && this.clean) this.sink.idle();
    else if (!this.sink && this.answered && this.pending <= 0 && this.internal === 0 && !this.unsynced) {
      const answered = this.answered;
      this.answered = undefined;
      answered(true);
    }
  }
}

/**
 * Opens and authenticates a connection to the origin (trust, cleartext, MD5 or SCRAM-SHA-256, as the
 * origin asks), and waits until it is ready for queries.
 */
export function connectOrigin(
  origin: Origin,
  options: { timeoutMs: number; applicationName: string },
): Promise<OriginConnection> {
  const where = `${origin.host}:${origin.port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: origin.host, port: origin.port });
    socket.setNoDelay(true);
    const reader = new MessageReader();
    const params: [string, string][] = [];
    const key = { pid: 0, secret: 0 };
    let scram: ScramClient | undefined;
    let settled = false;
    const fail = (err: OriginError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(
          new OriginError(
            "08001",
            "Server connection attempt failed: connection_timeout",
            `the local Hyperdrive could not connect to its origin database at ${where} within ${options.timeoutMs} ms`,
          ),
        ),
      options.timeoutMs,
    );
    socket.on("error", (err: NodeJS.ErrnoException) =>
      fail(
        new OriginError(
          "08001",
          `Server connection attempt failed: ${err.code === "ECONNREFUSED" ? "connection_refused" : "connection_error"}`,
          `the local Hyperdrive could not reach its origin database at ${where}: ${err.message}`,
          "Is the origin PostgreSQL running and listening there?",
        ),
      ),
    );
    socket.on("close", () =>
      fail(
        new OriginError(
          "08006",
          "Server connection attempt failed: connection closed",
          `the origin database at ${where} closed the connection during startup`,
        ),
      ),
    );
    socket.on("connect", () =>
      socket.write(
        startupMessage({
          user: origin.user,
          database: origin.database,
          client_encoding: "UTF8",
          application_name: options.applicationName,
        }),
      ),
    );
    const handle = async (msg: Buffer) => {
      const type = String.fromCharCode(msg[0] as number);
      const body = msg.subarray(5);
      if (type === "E") {
        const f = parseErrorFields(body);
        fail(new OriginError(f.C ?? "08001", `Server connection attempt failed: ${f.M ?? "unknown error"}`));
      } else if (type === "R") {
        const auth = body.readInt32BE(0);
        if (auth === 3) socket.write(passwordMessage(origin.password));
        else if (auth === 5)
          socket.write(passwordMessage(md5Password(origin.user, origin.password, body.subarray(4, 8))));
        else if (auth === 10) {
          if (!readCStrings(body, 4).includes("SCRAM-SHA-256"))
            throw new Error("the origin offers no SASL mechanism but SCRAM-SHA-256-PLUS");
          scram = new ScramClient(origin.password);
          socket.write(message("p", scram.initialResponse()));
        } else if (auth === 11 && scram) {
          socket.write(message("p", await scram.response(body.toString("utf8", 4))));
        } else if (auth === 12 && scram) scram.verify(body.toString("utf8", 4));
        else if (auth !== 0)
          throw new Error(`the origin asks for an authentication method (${auth}) this pool does not speak`);
      } else if (type === "S") {
        const [name, value] = readCStrings(body);
        if (name !== undefined) params.push([name, value ?? ""]);
      } else if (type === "K") {
        key.pid = body.readInt32BE(0);
        key.secret = body.readInt32BE(4);
      } else if (type === "Z" && !settled) {
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        resolve(new OriginConnection(socket, key, params));
      }
    };
    let chain = Promise.resolve();
    socket.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      chain = chain.then(async () => {
        for (let msg = reader.next(); msg && !settled; msg = reader.next()) await handle(msg);
      });
      chain.catch((err: Error) =>
        fail(new OriginError("08001", `Server connection attempt failed: ${err.message}`)),
      );
    });
  });
}
