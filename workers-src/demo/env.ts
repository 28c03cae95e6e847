import type { Counter } from "./counter";
import type { Room } from "./room";
import type { Session } from "./session";

/** The framework app Worker's bindings, as app.ts declares them. */
export interface FrameworkAppEnv {
  DEMO_KV: KVNamespace;
  ROOMS: DurableObjectNamespace<Room>;
  COUNTERS: DurableObjectNamespace<Counter>;
  SESSIONS: DurableObjectNamespace<Session>;
}
