import { DurableObject } from "cloudflare:workers";
import type { ObjectCall } from "../framework/router/handoff";
import { type DurableStore, durableStore } from "../framework/storage";
import type { FrameworkAppEnv } from "./env";

/** How many hits a user may make in any 60 seconds. */
export const HITS_PER_MINUTE = 5;
const WINDOW_MS = 60_000;

/**
 * A rate limiter per user (one object per name): a sliding window of the last minute's hits. The window is
 * an expiring key, so a user who stops calling leaves nothing behind once the object's alarm has run.
 */
export class Counter extends DurableObject<FrameworkAppEnv> {
  private readonly store: DurableStore<number[]>;

  constructor(ctx: DurableObjectState, env: FrameworkAppEnv) {
    super(ctx, env);
    this.store = durableStore<number[]>(ctx.storage, { prefix: "hits/" });
  }

  /** Counts one hit, or answers 429 with `Retry-After` when the last minute already has the most allowed. */
  async hit(call: ObjectCall<{ user: string }>): Promise<Response> {
    const now = Date.now();
    const recent = ((await this.store.get("window")) ?? []).filter((at) => at > now - WINDOW_MS);
    const user = call.params.user;
    if (recent.length >= HITS_PER_MINUTE) {
      const retryAfter = Math.max(1, Math.ceil((recent[0]! + WINDOW_MS - now) / 1000));
      return Response.json(
        {
          error: `${user} made ${HITS_PER_MINUTE} hits in the last minute; retry in ${retryAfter}s`,
          user,
          count: recent.length,
          limit: HITS_PER_MINUTE,
        },
        { status: 429, headers: { "retry-after": String(retryAfter) } },
      );
    }
    recent.push(now);
    // The window expires a minute after its last hit, when every hit in it has left the window anyway.
    await this.store.put("window", recent, { expireAt: now + WINDOW_MS });
    return Response.json({
      user,
      count: recent.length,
      limit: HITS_PER_MINUTE,
      remaining: HITS_PER_MINUTE - recent.length,
    });
  }

  override async alarm(): Promise<void> {
    await this.store.alarm();
  }
}
