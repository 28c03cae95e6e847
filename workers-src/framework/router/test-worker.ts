import { DurableObject } from "cloudflare:workers";
import * as z from "zod";
import { type ObjectCall, toObject } from "./handoff.js";
import { HttpError, router } from "./router.js";
import { type Admission, toRoom, WebSocketRoom } from "./websocket.js";

export interface TestEnv {
  COUNTERS: DurableObjectNamespace<Counter>;
  ROOMS: DurableObjectNamespace<ChatRoom>;
}

interface Vars {
  trace: string[];
}

/** A counter per object, in SQLite-backed storage. */
export class Counter extends DurableObject<TestEnv> {
  async increment(call: ObjectCall<Record<string, string>, { by: number }>) {
    const value = ((await this.ctx.storage.get<number>("value")) ?? 0) + call.body.by;
    await this.ctx.storage.put("value", value);
    return { id: this.ctx.id.toString(), value };
  }

  async read(call: ObjectCall) {
    return { id: this.ctx.id.toString(), value: (await this.ctx.storage.get<number>("value")) ?? 0, call };
  }
}

export interface Member {
  user: string;
  room: string;
  sent: number;
}

/**
 * A chat room: `whoami` answers the sender's attachment, `rename:<name>` changes it, anything else goes to
 * every other member as `{ from, text }`.
 */
export class ChatRoom extends WebSocketRoom<TestEnv, Member> {
  protected admit(request: Request, params: Record<string, string>): Admission<Member> | Response {
    const user = new URL(request.url).searchParams.get("user");
    if (!user) return Response.json({ error: "?user= is required" }, { status: 400 });
    return { attachment: { user, room: params.name ?? "", sent: 0 }, tags: [user] };
  }

  protected message(socket: WebSocket, data: string | ArrayBuffer) {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    const member = this.attachment(socket);
    if (text === "whoami") return socket.send(JSON.stringify(member));
    if (text.startsWith("rename:"))
      return this.attach(socket, { ...member, user: text.slice("rename:".length) });
    this.attach(socket, { ...member, sent: member.sent + 1 });
    this.broadcast(JSON.stringify({ from: member.user, text }), { except: socket });
  }
}

const app = router<TestEnv, Vars>();

app.use(async (ctx, next) => {
  ctx.vars.trace = ["outer:in"];
  const res = await next();
  ctx.vars.trace.push("outer:out");
  res.headers.set("x-trace", ctx.vars.trace.join(","));
  return res;
});
app.use(async (ctx, next) => {
  ctx.vars.trace?.push("inner:in");
  if (ctx.url.pathname.startsWith("/admin/") && ctx.request.headers.get("authorization") !== "Bearer admin") {
    return Response.json({ error: "admin routes need Authorization: Bearer admin" }, { status: 401 });
  }
  const res = await next();
  ctx.vars.trace?.push("inner:out");
  return res;
});

app.get("/users/:id", (ctx) => ({ id: ctx.params.id }));
app.get("/users/:id/posts/:post", (ctx) => ({ user: ctx.params.id, post: ctx.params.post }));
app.delete("/users/:id", () => undefined);
app.get("/files/*path", (ctx) => ({ path: ctx.params.path }));
app.get("/users/:id/files/*rest", (ctx) => ({ id: ctx.params.id, rest: ctx.params.rest }));
app.get("/whoami", { host: "api.example.com" }, () => ({ served: "api" }));
app.get("/whoami", () => ({ served: "any host" }));
app.get("/trace", (ctx) => {
  ctx.vars.trace?.push("handler");
  return new Response("traced");
});
app.get("/teapot", () => {
  throw new HttpError(418, "this route brews tea");
});

const NewUser = z.object({ name: z.string().min(1), age: z.number().int().nonnegative() });
app.post("/users", { body: NewUser }, (ctx) => Response.json({ created: ctx.body }, { status: 201 }));
app.post("/admin/users", { body: NewUser }, (ctx) => ({ created: ctx.body }));
app.get(
  "/search",
  { query: z.object({ q: z.string().min(1), limit: z.coerce.number().int().max(50).default(10) }) },
  (ctx) => ({ q: ctx.query.q, limit: ctx.query.limit }),
);

const counters = (env: TestEnv) => env.COUNTERS;
app.post(
  "/counters/:name/increment",
  { body: z.object({ by: z.number().int() }) },
  toObject(counters, { by: "name", param: "name" }, "increment"),
);
app.get("/counters/:name", toObject(counters, { by: "name", param: "name" }, "read"));
app.get("/counters/by-id/:id", toObject(counters, { by: "id", param: "id" }, "read"));
app.post("/counters", toObject(counters, { by: "new" }, "read"));

app.get(
  "/rooms/:name/ws",
  toRoom((env: TestEnv) => env.ROOMS, { by: "name", param: "name" }),
);

app.cron("*/5 * * * *", async (_controller, env) => {
  await env.COUNTERS.getByName("cron-every-5-minutes").increment({ params: {}, body: { by: 1 }, query: {} });
});
app.cron("0 3 * * *", async (_controller, env) => {
  await env.COUNTERS.getByName("cron-nightly").increment({ params: {}, body: { by: 100 }, query: {} });
});

export default { fetch: app.fetch, scheduled: app.scheduled } satisfies ExportedHandler<TestEnv>;
