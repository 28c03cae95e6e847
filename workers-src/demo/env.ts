import type { Counter } from "./counter";
import type { Room } from "./room";
import type { Session } from "./session";

/** The demo Worker's bindings, as app.ts declares them. */
export interface DemoEnv {
  DEMO_KV: KVNamespace;
  ROOMS: DurableObjectNamespace<Room>;
  COUNTERS: DurableObjectNamespace<Counter>;
  SESSIONS: DurableObjectNamespace<Session>;
}
