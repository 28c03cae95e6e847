import type { KvWriter } from "../framework/storage";
import type { Counter } from "./counter";
import type { Room } from "./room";
import type { Session } from "./session";

/** The framework app Worker's bindings, as app.ts declares them (KV_WRITER derived from DEMO_KV). */
export interface FrameworkAppEnv {
  DEMO_KV: KVNamespace;
  /** The framework's per-key writer of DEMO_KV: the declared namespace's writes are serialised. */
  KV_WRITER: DurableObjectNamespace<KvWriter>;
  ROOMS: DurableObjectNamespace<Room>;
  COUNTERS: DurableObjectNamespace<Counter>;
  SESSIONS: DurableObjectNamespace<Session>;
}
