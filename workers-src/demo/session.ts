import { DurableObject } from "cloudflare:workers";
import type { ObjectCall } from "../framework/router/handoff";
import { type DurableStore, durableStore } from "../framework/storage";
import type { FrameworkAppEnv } from "./env";

export interface SessionData {
  user: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface NewSession {
  user: string;
  ttlSeconds: number;
}

const KEY = "session";

/**
 * One session per object, made with a new unique id (the session id) and kept in an expiring key: a read
 * after its expiry finds nothing, and the object's alarm deletes it.
 */
export class Session extends DurableObject<FrameworkAppEnv> {
  private readonly store: DurableStore<SessionData>;

  constructor(ctx: DurableObjectState, env: FrameworkAppEnv) {
    super(ctx, env);
    this.store = durableStore<SessionData>(ctx.storage);
  }

  async create(call: ObjectCall<Record<string, string>, NewSession>) {
    const createdAt = new Date();
    const expiresAt = new Date(createdAt.getTime() + call.body.ttlSeconds * 1000);
    const session = { user: call.body.user, createdAt, expiresAt };
    await this.store.put(KEY, session, { expireAt: expiresAt });
    return this.view(session);
  }

  async read() {
    const session = await this.store.get(KEY);
    return session ? this.view(session) : this.gone();
  }

  async end() {
    if (!(await this.store.get(KEY))) return this.gone();
    await this.store.delete(KEY);
    return undefined;
  }

  override async alarm(): Promise<void> {
    await this.store.alarm();
  }

  private view(session: SessionData) {
    return {
      id: this.ctx.id.toString(),
      user: session.user,
      createdAt: session.createdAt.toISOString(),
      expiresAt: session.expiresAt.toISOString(),
    };
  }

  // An HttpError would lose its class crossing RPC, so the object answers the 404 itself.
  private gone(): Response {
    return Response.json(
      { error: `session ${this.ctx.id.toString()} does not exist or has expired` },
      { status: 404 },
    );
  }
}
