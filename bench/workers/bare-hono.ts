/** The API benchmark's baseline: a bare Hono route on workerd, no middleware, no bindings. */
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.json({ ok: true }));

export default app;
