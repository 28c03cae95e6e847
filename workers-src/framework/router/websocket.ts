import { DurableObject } from "cloudflare:workers";
import { type ObjectPick, pickObject } from "./handoff.js";
import type { Handler } from "./router.js";

/**
 * The request header that carries the route's params, as JSON, from the Worker to the room. The Worker
 * always overwrites it, so a client cannot set it: the object is reachable only through the Worker.
 */
export const ROUTE_PARAMS_HEADER = "x-route-params";

/** What {@link WebSocketRoom.admit} decides for a new socket: its attachment and its tags. */
export interface Admission<Attachment> {
  attachment: Attachment;
  /** Tags to find the socket by with `getWebSockets(tag)` / `broadcast(…, { tag })`. @default [] */
  tags?: string[];
}

export interface BroadcastOptions {
  /** A socket not to send to, usually the sender. */
  except?: WebSocket;
  /** Send only to sockets accepted with this tag. @default every socket of the room */
  tag?: string;
}

/**
 * A handler that upgrades the request to a WebSocket served by a {@link WebSocketRoom}: the request is
 * handed to the object picked by name or id (a new object per connection would be a room of one).
 * A request without `Upgrade: websocket` is answered with 426.
 */
export function toRoom<Env, T extends WebSocketRoom<unknown, unknown>, K extends string>(
  namespace: (env: Env) => DurableObjectNamespace<T>,
  pick: Exclude<ObjectPick<K>, { by: "new" }>,
): Handler<Env, Record<K, string>, unknown, unknown, unknown> {
  return (ctx) => {
    if (ctx.request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json(
        { error: `${ctx.url.pathname} is a WebSocket endpoint: send Upgrade: websocket` },
        { status: 426, headers: { upgrade: "websocket" } },
      );
    }
    const picked = pickObject(namespace(ctx.env), pick, ctx.params);
    if ("error" in picked) return picked.error;
    const forwarded = new Request(ctx.request);
    forwarded.headers.set(ROUTE_PARAMS_HEADER, JSON.stringify(ctx.params));
    return picked.stub.fetch(forwarded);
  };
}

/**
 * A Durable Object that serves WebSockets with hibernation: sockets are accepted with
 * `ctx.acceptWebSocket`, so the object can be evicted between messages without dropping them, and each
 * socket's attachment (at most 2 KiB, structured-clonable) is stored with the socket and survives eviction.
 * Keep per-socket state in attachments, never in fields: fields are lost on eviction.
 */
export abstract class WebSocketRoom<Env, Attachment> extends DurableObject<Env> {
  /** Admits a connection and decides its attachment and tags; return a Response to refuse it. */
  protected abstract admit(
    request: Request,
    params: Record<string, string>,
  ): Admission<Attachment> | Response | Promise<Admission<Attachment> | Response>;

  /** Handles one message from `socket`. */
  protected abstract message(socket: WebSocket, data: string | ArrayBuffer): void | Promise<void>;

  /** Called after a client closed `socket`, before the room answers the close. */
  protected closed(_socket: WebSocket, _code: number, _reason: string): void | Promise<void> {}

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ error: "this object only accepts WebSocket upgrades" }, { status: 426 });
    }
    const params = JSON.parse(request.headers.get(ROUTE_PARAMS_HEADER) ?? "{}") as Record<string, string>;
    const admission = await this.admit(request, params);
    if (admission instanceof Response) return admission;
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, admission.tags ?? []);
    server.serializeAttachment(admission.attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(socket: WebSocket, data: string | ArrayBuffer): Promise<void> {
    await this.message(socket, data);
  }

  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    await this.closed(socket, code, reason);
    // 1005 and 1006 mean "no code was sent" and may not be sent back.
    socket.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  /** Sends `message` to every open socket of the room (or of `tag`) but `except`; returns how many. */
  broadcast(message: string | ArrayBuffer, options: BroadcastOptions = {}): number {
    let sent = 0;
    for (const socket of this.ctx.getWebSockets(options.tag)) {
      if (socket === options.except || socket.readyState !== WebSocket.OPEN) continue;
      socket.send(message);
      sent++;
    }
    return sent;
  }

  /** The attachment stored with `socket`. */
  protected attachment(socket: WebSocket): Attachment {
    return socket.deserializeAttachment() as Attachment;
  }

  /** Replaces the attachment stored with `socket`. */
  protected attach(socket: WebSocket, attachment: Attachment): void {
    socket.serializeAttachment(attachment);
  }
}
