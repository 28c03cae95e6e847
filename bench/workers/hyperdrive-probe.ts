/**
 * The API benchmark's floors inside workerd: what a Worker pays for the client it opens per request
 * through its Hyperdrive binding, before it runs any query.
 *
 * - `GET /socket`: the binding's socket alone, driven by hand: the startup message, the password, a
 *   Terminate, close. No driver.
 * - `GET /client`: node-postgres' `connect()` and `end()`, as `withDb` opens and closes its client.
 */
import { Client } from "pg";

interface Env {
  HYPERDRIVE: Hyperdrive;
}

const encoder = new TextEncoder();

/** A protocol message: an optional type byte, an int32 length that counts itself, the body. */
function frame(type: string | null, body: Uint8Array): Uint8Array {
  const head = type === null ? 0 : 1;
  const out = new Uint8Array(head + 4 + body.length);
  if (type !== null) out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(head, 4 + body.length);
  out.set(body, head + 4);
  return out;
}

async function socketOnly(hyperdrive: Hyperdrive): Promise<void> {
  const url = new URL(hyperdrive.connectionString);
  const socket = hyperdrive.connect();
  const writer = socket.writable.getWriter();
  const reader = socket.readable.getReader();
  const protocol = new Uint8Array(4);
  new DataView(protocol.buffer).setInt32(0, 196608);
  const params = encoder.encode(
    `user\0${decodeURIComponent(url.username)}\0database\0${decodeURIComponent(url.pathname.slice(1))}\0\0`,
  );
  const startup = new Uint8Array(protocol.length + params.length);
  startup.set(protocol);
  startup.set(params, protocol.length);
  await writer.write(frame(null, startup));
  await reader.read(); // the password request
  await writer.write(frame("p", encoder.encode(`${decodeURIComponent(url.password)}\0`)));
  await reader.read(); // AuthenticationOk, parameters, BackendKeyData, ReadyForQuery
  await writer.write(frame("X", new Uint8Array(0)));
  await socket.close();
}

async function clientOnly(hyperdrive: Hyperdrive): Promise<void> {
  const client = new Client({ connectionString: hyperdrive.connectionString });
  client.on("error", () => undefined);
  await client.connect();
  await client.end();
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/socket") await socketOnly(env.HYPERDRIVE);
    else if (pathname === "/client") await clientOnly(env.HYPERDRIVE);
    else return new Response("not found", { status: 404 });
    return Response.json({ ok: true });
  },
};
