/**
 * The Client Worker's Hono app: the builds platform's REST API, push webhooks and deploy hooks. Every
 * response is an envelope; `/api/*` needs a bearer token (a JWT or an API token, whose scope every route
 * checks) except `/api/health`. The builds dashboard's page and modules are served at `/` (routes/dashboard.ts).
 */
import { Hono } from "hono";
import { withLogTags } from "workers-tagged-logger";
import { requireAuth } from "./auth";
import type { AppEnv } from "./env";
import { ApiError, concurrencyConflict, ERROR_CODES, failure, internalErrorEnvelope, ok } from "./envelope";
import { errorFields, logger, requestContext } from "./logger";
import { buildRoutes } from "./routes/builds";
import { dashboardRoutes } from "./routes/dashboard";
import { deployHookRoutes } from "./routes/deploy-hooks";
import { logRoutes } from "./routes/logs";
import { tokenRoutes } from "./routes/tokens";
import { triggerRoutes } from "./routes/triggers";
import { webhookRoutes } from "./routes/webhooks";
import { workerRoutes } from "./routes/workers";

export const app = new Hono<AppEnv>();

// The logging context of the request (the library's own Hono middleware would bundle all of zod for it).
app.use("*", (c, next) =>
  withLogTags(
    {
      source: "builds-client",
      tags: { handler: "fetch", colo: (c.req.raw.cf?.colo as string | undefined) ?? null },
    },
    () => next(),
  ),
);
app.use("*", requestContext);

app.get("/api/health", (c) => c.json(ok({ ok: true, release: c.env.RELEASE ?? null })));

app.use("/api/*", async (c, next) => {
  if (c.req.path === "/api/health") return next();
  return requireAuth(c, next);
});

app.route("/", workerRoutes);
app.route("/", triggerRoutes);
app.route("/", buildRoutes);
app.route("/", logRoutes);
app.route("/", deployHookRoutes);
app.route("/", tokenRoutes);
app.route("/", webhookRoutes);
app.route("/", dashboardRoutes);

app.notFound((c) =>
  c.json(
    failure([{ code: ERROR_CODES.notFound, message: `no route for ${c.req.method} ${c.req.path}` }]),
    404,
  ),
);

app.onError((raw, c) => {
  const requestId = c.get("requestId") ?? "unknown";
  c.header("X-Request-Id", requestId);
  const err = concurrencyConflict(raw) ?? raw;
  if (err instanceof ApiError) {
    logger.info(`answered ${err.status}: ${err.message}`);
    for (const [name, value] of Object.entries(err.headers)) c.header(name, value);
    return c.json(failure(err.errors), err.status);
  }
  logger.withFields({ error: errorFields(err) }).error(`unhandled error: ${err.message}`);
  return c.json(internalErrorEnvelope(requestId), 500);
});
