import http from "node:http";
import type { AddressInfo } from "node:net";
import { type Duplex, Readable } from "node:stream";

/**
 * A stable front for one deployed script: a `node:http` server on 127.0.0.1 that forwards every request
 * (method, path, headers with Host, streamed body) and WebSocket upgrade to the current upstream, so that
 * the script keeps one port while its versions come and go. While paused, arriving requests wait.
 */
export interface ScriptProxy {
  readonly port: number;
  readonly url: string;
  /** Requests (not WebSockets) forwarded and not yet answered in full. */
  readonly inFlight: number;
  setUpstream(url: string): void;
  pause(): void;
  resume(): void;
  /** Resolves true once nothing is in flight, false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean>;
  /** Ends the WebSockets forwarded to `upstream` (those of a stopped version). */
  dropSockets(upstream: string): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

/** `rawHeaders` (name, value, name, value, …) as pairs. */
function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

function forwardedHeaders(raw: string[]): string[] {
  return pairs(raw)
    .filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase()))
    .flat();
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts a proxy on `port` (0: a free one); rejects (EADDRINUSE) when the port is taken. */
export async function startScriptProxy(
  options: { upstream?: string; port?: number } = {},
): Promise<ScriptProxy> {
  let upstream = options.upstream;
  let paused = false;
  let waiting: (() => void)[] = [];
  let inFlight = 0;
  let idle: (() => void)[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const sockets = new Map<string, Set<Duplex>>();

  const ready = async (): Promise<string | undefined> => {
    while (paused) await new Promise<void>((resolve) => waiting.push(resolve));
    return upstream;
  };
  const done = () => {
    inFlight--;
    if (inFlight === 0) for (const resolve of idle.splice(0)) resolve();
  };

  const server = http.createServer(async (req, res) => {
    const target = await ready();
    if (target === undefined) {
      res.writeHead(503, { "content-type": "text/plain" }).end("no version of this Worker is running\n");
      return;
    }
    inFlight++;
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        done();
      }
    };
    res.once("close", finish);
    const base = new URL(target);
    const upstreamReq = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req.rawHeaders) as unknown as http.OutgoingHttpHeaders,
        setHost: false,
      },
      (upstreamRes) => {
        res.writeHead(
          upstreamRes.statusCode ?? 502,
          upstreamRes.statusMessage,
          forwardedHeaders(upstreamRes.rawHeaders),
        );
        upstreamRes.pipe(res);
        upstreamRes.once("error", () => res.destroy());
      },
    );
    upstreamReq.once("error", (error) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain" }).end(`upstream failed: ${error.message}\n`);
      } else {
        res.destroy();
      }
    });
    req.pipe(upstreamReq);
    req.once("aborted", () => upstreamReq.destroy());
  });

  server.on("upgrade", async (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    const target = await ready();
    if (target === undefined) {
      socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n");
      return;
    }
    const base = new URL(target);
    const headers = req.rawHeaders;
    const upstreamReq = http.request({
      host: base.hostname,
      port: base.port,
      method: req.method,
      path: req.url,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
    });
    upstreamReq.once("upgrade", (upstreamRes, upstreamSocket, upstreamHead) => {
      const lines = [`HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? ""}`];
      for (const [name, value] of pairs(upstreamRes.rawHeaders)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.on("error", () => socket.destroy());
      socket.on("error", () => upstreamSocket.destroy());
      upstreamSocket.pipe(socket).pipe(upstreamSocket);
      const open = sockets.get(target) ?? new Set<Duplex>();
      sockets.set(target, open);
      open.add(socket);
      open.add(upstreamSocket);
      const forget = () => {
        open.delete(socket);
        open.delete(upstreamSocket);
      };
      socket.once("close", forget);
      upstreamSocket.once("close", () => socket.destroy());
    });
    upstreamReq.once("response", (upstreamRes) => {
      // Refused upgrade: pass the answer on as is, then close.
      const lines = [`HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? ""}`];
      for (const [name, value] of pairs(forwardedHeaders(upstreamRes.rawHeaders)))
        lines.push(`${name}: ${value}`);
      lines.push("connection: close");
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      upstreamRes.pipe(socket);
    });
    upstreamReq.once("error", () => socket.end("HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n"));
    if (head.length > 0) upstreamReq.write(head);
    upstreamReq.end();
  });

  const port = await listen(server, options.port ?? 0);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get inFlight() {
      return inFlight;
    },
    setUpstream(url) {
      upstream = url;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const resumed = waiting;
      waiting = [];
      for (const resolve of resumed) resolve();
    },
    drained(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const onIdle = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          idle = idle.filter((f) => f !== onIdle);
          resolve(false);
        }, timeoutMs);
        idle.push(onIdle);
      });
    },
    dropSockets(url) {
      for (const socket of sockets.get(url) ?? []) socket.destroy();
      sockets.delete(url);
    },
    async close() {
      paused = false;
      upstream = undefined;
      for (const resolve of waiting.splice(0)) resolve();
      for (const open of sockets.values()) for (const socket of open) socket.destroy();
      sockets.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

/**
 * Sends a fetch `Request` to `base` through `node:http`, as received: Host header kept, body streamed,
 * the answer's body not decoded (a gzip answer stays gzip, with its content-encoding).
 */
export function forwardRequest(request: Request, base: string): Promise<Response> {
  const url = new URL(request.url);
  const target = new URL(base);
  const headers: [string, string][] = [];
  request.headers.forEach((value, key) => {
    if (!HOP_BY_HOP.has(key)) headers.push([key, value]);
  });
  if (!request.headers.has("host")) headers.push(["host", url.host]);
  return new Promise<Response>((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: `${url.pathname}${url.search}`,
        headers: headers.flat() as unknown as http.OutgoingHttpHeaders,
        setHost: false,
      },
      (res) => {
        const out = new Headers();
        for (const [name, value] of pairs(forwardedHeaders(res.rawHeaders))) out.append(name, value);
        const status = res.statusCode ?? 502;
        if (status < 200) {
          // An upgrade (WebSocket) cannot be answered as a fetch Response: the script's own port does that.
          res.destroy();
          resolve(new Response("upgrades are served on the script's own port\n", { status: 502 }));
          return;
        }
        if (request.method === "HEAD" || status === 204 || status === 304) {
          res.resume();
          resolve(new Response(null, { status, statusText: res.statusMessage, headers: out }));
          return;
        }
        const body = Readable.toWeb(res) as ReadableStream<Uint8Array>;
        resolve(new Response(body, { status, statusText: res.statusMessage, headers: out }));
      },
    );
    req.once("error", reject);
    if (request.body === null) {
      req.end();
      return;
    }
    const body = Readable.fromWeb(request.body as import("node:stream/web").ReadableStream<Uint8Array>);
    body.once("error", (error) => req.destroy(error));
    body.pipe(req);
  });
}
