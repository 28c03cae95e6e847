import { type Admission, WebSocketRoom } from "../framework/router/websocket";
import type { FrameworkAppEnv } from "./env";

/** Who a socket of the room is; stored with the socket, so it survives the room's hibernation. */
export interface Member {
  user: string;
  joinedAt: number;
}

/** What the room sends to every member. */
export type RoomEvent =
  | { type: "joined"; user: string; at: number }
  | { type: "left"; user: string; at: number }
  | { type: "message"; from: string; text: string; at: number };

/** The longest chat message the room accepts, in characters. */
export const MAX_MESSAGE_LENGTH = 2000;

/**
 * A chat room per name: `GET /rooms/:name/ws?user=alice` joins it, and every text message is sent to every
 * member, the sender included (so a lone client sees the room work).
 */
export class Room extends WebSocketRoom<FrameworkAppEnv, Member> {
  protected admit(request: Request): Admission<Member> | Response {
    const user = new URL(request.url).searchParams.get("user")?.trim();
    if (!user || user.length > 64) {
      return Response.json({ error: "join with ?user=<name> (1 to 64 characters)" }, { status: 400 });
    }
    this.send({ type: "joined", user, at: Date.now() });
    return { attachment: { user, joinedAt: Date.now() } };
  }

  protected message(socket: WebSocket, data: string | ArrayBuffer): void {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    if (text.length > MAX_MESSAGE_LENGTH) {
      socket.send(JSON.stringify({ error: `messages are at most ${MAX_MESSAGE_LENGTH} characters` }));
      return;
    }
    this.send({ type: "message", from: this.attachment(socket).user, text, at: Date.now() });
  }

  protected override closed(socket: WebSocket): void {
    this.send({ type: "left", user: this.attachment(socket).user, at: Date.now() }, socket);
  }

  /** The users connected now, in the order they joined (`GET /rooms/:name`). */
  async members(): Promise<{ members: string[] }> {
    const members = this.ctx
      .getWebSockets()
      .filter((socket) => socket.readyState === WebSocket.OPEN)
      .map((socket) => this.attachment(socket))
      .sort((a, b) => a.joinedAt - b.joinedAt)
      .map((member) => member.user);
    return { members };
  }

  private send(event: RoomEvent, except?: WebSocket): void {
    this.broadcast(JSON.stringify(event), except ? { except } : {});
  }
}
