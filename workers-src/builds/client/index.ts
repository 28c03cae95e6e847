import { Hono } from "hono";
import type { BuildManagement } from "../management/index";

export interface ClientEnv {
  MANAGEMENT: Service<BuildManagement>;
  HYPERDRIVE: Hyperdrive;
  API_JWT_SECRET: string;
}

const app = new Hono<{ Bindings: ClientEnv }>();

app.get("/api/health", async (c) => {
  const management = await c.env.MANAGEMENT.health();
  return c.json({ success: true, errors: [], messages: [], result: { management } });
});

app.notFound((c) =>
  c.json(
    {
      success: false,
      errors: [{ code: 404, message: `no route for ${c.req.method} ${c.req.path}` }],
      messages: [],
      result: null,
    },
    404,
  ),
);

export default app;
