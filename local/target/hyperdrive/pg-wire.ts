import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The few pieces of PostgreSQL's frontend/backend protocol (version 3.0) that the local Hyperdrive pool
 * speaks: splitting a byte stream into messages, building the messages it sends, and SCRAM-SHA-256 toward
 * the origin. https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
/** Larger than any message this pool should see (PostgreSQL itself caps a field at 1 GB). */
const MAX_MESSAGE = 1 << 30;

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * Reassembles whole messages from the chunks a socket delivers. Typed messages are a type byte and an
 * int32 length that counts itself; the first message of a client connection has no type byte.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes the first incomplete message needs in all, once its header has arrived. */
  private need = 0;

  constructor(public typed = true) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The next whole message (type byte, length and body), or undefined until it has arrived. */
  next(): Buffer | undefined {
    const data = this.whole();
    if (!data) return undefined;
    const length = this.lengthAt(data, 0);
    return this.consume(data, length);
  }

  /** Every whole message that has arrived, back to back in one buffer, or undefined when none has. */
  all(): Buffer | undefined {
    const data = this.whole();
    if (!data) return undefined;
    let end = 0;
    while (end < data.length) {
      const length = this.lengthAt(data, end);
      if (end + length > data.length) break;
      end += length;
    }
    return this.consume(data, end);
  }

  /** The buffered bytes as one buffer, when at least the first whole message is among them. */
  private whole(): Buffer | undefined {
    const head = this.typed ? 5 : 4;
    if (this.size < head || this.size < this.need) return undefined;
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    const data = this.chunks[0] as Buffer;
    const length = this.lengthAt(data, 0);
    if (data.length < length) {
      this.need = length;
      return undefined;
    }
    this.need = 0;
    return data;
  }

  private lengthAt(data: Buffer, offset: number): number {
    const head = this.typed ? 1 : 0;
    if (data.length - offset < head + 4) return head + 4 + 1; // a header cut short: not whole yet
    const length = data.readInt32BE(offset + head);
    if (length < 4 || length > MAX_MESSAGE) throw new ProtocolError(`invalid message length ${length}`);
    return head + length;
  }

  private consume(data: Buffer, end: number): Buffer {
    const rest = data.subarray(end);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return data.subarray(0, end);
  }
}

/** Calls `fn` with the type (a char code) and body of each typed message in `data`. */
export function eachMessage(
  data: Buffer,
  fn: (type: number, body: Buffer, start: number, end: number) => void,
) {
  let offset = 0;
  while (offset < data.length) {
    const end = offset + 1 + data.readInt32BE(offset + 1);
    fn(data[offset] as number, data.subarray(offset + 5, end), offset, end);
    offset = end;
  }
}

const cstring = (s: string) => Buffer.from(`${s}\0`, "utf8");

/** A typed message: type byte, int32 length, body. */
export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

export const authenticationOk = () => message("R", int32(0));
export const authenticationCleartextPassword = () => message("R", int32(3));
export const parameterStatus = (name: string, value: string) => message("S", cstring(name), cstring(value));
export const backendKeyData = (pid: number, secret: number) => message("K", int32(pid), int32(secret));
export const readyForQuery = (status: "I" | "T" | "E") => message("Z", Buffer.from(status, "latin1"));
export const query = (sql: string) => message("Q", cstring(sql));
export const sync = () => message("S");
export const terminate = () => message("X");
export const passwordMessage = (password: string) => message("p", cstring(password));

/** NegotiateProtocolVersion: the newest minor version served and the startup options not understood. */
export const negotiateProtocolVersion = (minor: number, unrecognized: string[]) =>
  message("v", int32(minor), int32(unrecognized.length), ...unrecognized.map(cstring));

export interface PgError {
  severity: "ERROR" | "FATAL";
  /** SQLSTATE, e.g. `08001`. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function errorResponse(e: PgError): Buffer {
  const field = (tag: string, value: string | undefined) =>
    value === undefined ? [] : [cstring(`${tag}${value}`)];
  return message(
    "E",
    ...field("S", e.severity),
    ...field("V", e.severity),
    ...field("C", e.code),
    ...field("M", e.message),
    ...field("D", e.detail),
    ...field("H", e.hint),
    Buffer.alloc(1),
  );
}

/** The fields of an ErrorResponse or NoticeResponse body, by their one-letter tags. */
export function parseErrorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const end = body.indexOf(0, offset + 1);
    fields[String.fromCharCode(body[offset] as number)] = body.toString("utf8", offset + 1, end);
    offset = end + 1;
  }
  return fields;
}

/** Null-terminated strings from `offset` on, until an empty one or the end. */
export function readCStrings(body: Buffer, offset = 0): string[] {
  const out: string[] = [];
  while (offset < body.length) {
    const end = body.indexOf(0, offset);
    if (end < 0 || end === offset) break;
    out.push(body.toString("utf8", offset, end));
    offset = end + 1;
  }
  return out;
}

export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    int32(PROTOCOL_3_0),
    ...Object.entries(params).flatMap(([k, v]) => [cstring(k), cstring(v)]),
    Buffer.alloc(1),
  ]);
  return Buffer.concat([int32(body.length + 4), body]);
}

export const cancelRequest = (pid: number, secret: number) =>
  Buffer.concat([int32(16), int32(CANCEL_REQUEST), int32(pid), int32(secret)]);

/** An untyped first message: its request code and, for a startup message, its parameters. */
export function parseFirstMessage(data: Buffer): {
  code: number;
  params: Record<string, string>;
  key?: Buffer;
} {
  const code = data.readInt32BE(4);
  if (code === CANCEL_REQUEST) return { code, params: {}, key: data.subarray(8, 16) };
  const params: Record<string, string> = {};
  const strings = readCStrings(data, 8);
  for (let i = 0; i + 1 < strings.length; i += 2) params[strings[i] as string] = strings[i + 1] as string;
  return { code, params };
}

export function equalSecrets(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

/** Salted passwords by password, salt and iteration count: the slow part of SCRAM is done once per origin. */
const saltedPasswords = new Map<string, Promise<Buffer>>();

function saltedPassword(password: string, salt: string, iterations: number): Promise<Buffer> {
  const key = `${iterations}\0${salt}\0${password}`;
  let salted = saltedPasswords.get(key);
  if (!salted) {
    salted = new Promise<Buffer>((resolve, reject) =>
      pbkdf2(password.normalize("NFKC"), Buffer.from(salt, "base64"), iterations, 32, "sha256", (err, key) =>
        err ? reject(err) : resolve(key),
      ),
    );
    salted.catch(() => saltedPasswords.delete(key));
    saltedPasswords.set(key, salted);
  }
  return salted;
}

const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding, as libpq does it over TCP. */
export class ScramClient {
  private readonly nonce: string;
  private readonly firstBare: string;
  private expectedServerSignature?: Buffer;

  /** PostgreSQL takes the user from the startup message and ignores the one here, so libpq sends none. */
  constructor(
    private readonly password: string,
    options: { user?: string; nonce?: string } = {},
  ) {
    this.nonce = options.nonce ?? randomBytes(18).toString("base64");
    this.firstBare = `n=${options.user ?? ""},r=${this.nonce}`;
  }

  /** The body of the SASLInitialResponse message. */
  initialResponse(): Buffer {
    const data = Buffer.from(`n,,${this.firstBare}`, "utf8");
    return Buffer.concat([cstring("SCRAM-SHA-256"), int32(data.length), data]);
  }

  /** The body of the SASLResponse that answers the server's first message. */
  async response(serverFirst: string): Promise<Buffer> {
    const attrs = Object.fromEntries(serverFirst.split(",").map((kv) => [kv[0], kv.slice(2)]));
    const nonce = attrs.r ?? "";
    const iterations = Number(attrs.i);
    if (!nonce.startsWith(this.nonce) || !attrs.s || !Number.isInteger(iterations) || iterations < 1)
      throw new ProtocolError("the origin's SCRAM-SHA-256 challenge is malformed");
    const salted = await saltedPassword(this.password, attrs.s, iterations);
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const finalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.firstBare},${serverFirst},${finalWithoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ (signature[i] as number)));
    this.expectedServerSignature = hmac(hmac(salted, "Server Key"), authMessage);
    return Buffer.from(`${finalWithoutProof},p=${proof.toString("base64")}`, "utf8");
  }

  /** Checks the server's final message, which proves that it knew the password too. */
  verify(serverFinal: string): void {
    const v = /(?:^|,)v=([^,]*)/.exec(serverFinal)?.[1];
    if (!v || !this.expectedServerSignature?.equals(Buffer.from(v, "base64")))
      throw new ProtocolError("the origin's SCRAM-SHA-256 server signature does not match");
  }
}

/** The MD5 password answer: `md5` + md5(md5(password + user) + salt). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash("md5").update(`${password}${user}`).digest("hex");
  return `md5${createHash("md5")
    .update(Buffer.concat([Buffer.from(inner), salt]))
    .digest("hex")}`;
}
