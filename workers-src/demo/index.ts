import * as z from "zod";
import { toObject } from "../framework/router/handoff";
import { router } from "../framework/router/router";
import { toRoom } from "../framework/router/websocket";
import { docRoutes } from "./docs";
import type { FrameworkAppEnv } from "./env";
import { statsRoutes } from "./stats";

// The framework's KV writer: the declaration's serialised namespace binds it as KV_WRITER.
export { KvWriter } from "../framework/storage";
export { Counter } from "./counter";
export type { FrameworkAppEnv } from "./env";
export { Room } from "./room";
export { Session } from "./session";

/** What `GET /` lists, for a first look at the app. */
export const ROUTES = [
  "POST   /docs                 create a document (JSON object body) → { id }",
  "GET    /docs?prefix=&limit=&cursor=  list documents by id prefix, a page at a time",
  "GET    /docs/:id?consistent= read a document, its version in ETag (consistent=0: KV's copy, a moment behind)",
  "DELETE /docs/:id             delete a document",
  "GET    /docs/:id/at/:path    read inside a document (path: names joined by '.', e.g. profile.name)",
  'PUT    /docs/:id/at/:path    set a value inside a document, body { value }; If-Match: "<version>" or 409',
  "DELETE /docs/:id/at/:path    delete a value inside a document",
  "GET    /rooms/:name          who is in a chat room",
  "GET    /rooms/:name/ws?user= join a chat room over WebSocket",
  "POST   /users/:user/hits     count a hit, 429 past the limit per minute",
  "POST   /sessions             start a session, body { user, ttlSeconds? } → { id, expiresAt }",
  "GET    /sessions/:id         read a session; 404 once it has expired",
  "DELETE /sessions/:id         end a session",
  "GET    /stats                how many documents there are, as the last run of the stats cron counted",
];

const NewSession = z.object({
  user: z.string().min(1).max(64),
  ttlSeconds: z.number().int().min(1).max(86_400).default(3600),
});

const rooms = (env: FrameworkAppEnv) => env.ROOMS;
const counters = (env: FrameworkAppEnv) => env.COUNTERS;
const sessions = (env: FrameworkAppEnv) => env.SESSIONS;

const app = router<FrameworkAppEnv>();

app.get("/", () => ({ app: "framework-demo", routes: ROUTES }));

docRoutes(app);
statsRoutes(app);

app.get("/rooms/:name", toObject(rooms, { by: "name", param: "name" }, "members"));
app.get("/rooms/:name/ws", toRoom(rooms, { by: "name", param: "name" }));

app.post("/users/:user/hits", toObject(counters, { by: "name", param: "user" }, "hit"));

app.post("/sessions", { body: NewSession }, toObject(sessions, { by: "new" }, "create"));
app.get("/sessions/:id", toObject(sessions, { by: "id", param: "id" }, "read"));
app.delete("/sessions/:id", toObject(sessions, { by: "id", param: "id" }, "end"));

export default { fetch: app.fetch, scheduled: app.scheduled } satisfies ExportedHandler<FrameworkAppEnv>;
