/**
 * The builds dashboard: one HTML page for every dashboard path, and its modules, compiled for browsers when
 * this Worker is bundled (`?browser` imports). The page holds no data: everything it shows comes from the
 * REST API with the reader's own credentials, so these routes need none.
 */

import type { Context } from "hono";
import { Hono } from "hono";
import ansi from "../../dashboard/ansi.ts?browser";
import api from "../../dashboard/api.ts?browser";
import app from "../../dashboard/app.ts?browser";
import logView from "../../dashboard/log-view.ts?browser";
import sse from "../../dashboard/sse.ts?browser";
import style from "../../dashboard/style.css?browser";
import type { AppEnv } from "../env";

const JS = "text/javascript; charset=utf-8";

/** What `/dashboard/<name>` serves. */
export const DASHBOARD_FILES: Record<string, { body: string; type: string }> = {
  "app.js": { body: app, type: JS },
  "api.js": { body: api, type: JS },
  "ansi.js": { body: ansi, type: JS },
  "log-view.js": { body: logView, type: JS },
  "sse.js": { body: sse, type: JS },
  "style.css": { body: style, type: "text/css; charset=utf-8" },
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Builds</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/style.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a href="/">Builds</a><nav aria-label="account"><a href="/tokens">API tokens</a></nav><span class="spacer"></span><button type="button" id="sign-out">Sign out</button></header>
<main id="main" tabindex="-1"><p>Loading…</p></main>
<footer><span id="announce" role="status" aria-live="polite"></span></footer>
<noscript>The builds dashboard needs JavaScript; the REST API under /api works without it.</noscript>
</body>
</html>
`;

/** The page's and modules' only sources are this origin; nothing may frame it. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const etags = new Map<string, Promise<string>>();

function etagOf(body: string): Promise<string> {
  let tag = etags.get(body);
  if (!tag) {
    tag = crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)).then((d) => {
      const hex = [...new Uint8Array(d).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("");
      return `"${hex}"`;
    });
    etags.set(body, tag);
  }
  return tag;
}

async function serve(c: Context<AppEnv>, body: string, type: string): Promise<Response> {
  const etag = await etagOf(body);
  const headers = {
    "Content-Type": type,
    ETag: etag,
    // Revalidated on every load (a 304 while unchanged), so a deploy is seen at once.
    "Cache-Control": "no-cache",
    "Content-Security-Policy": DASHBOARD_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  };
  const match = c.req.header("If-None-Match");
  if (match?.split(/\s*,\s*/).includes(etag)) return new Response(null, { status: 304, headers });
  return new Response(c.req.method === "HEAD" ? null : body, { headers });
}

export const dashboardRoutes = new Hono<AppEnv>();

const page = (c: Context<AppEnv>) => serve(c, PAGE, "text/html; charset=utf-8");
dashboardRoutes.get("/", page);
dashboardRoutes.get("/sign-in", page);
dashboardRoutes.get("/tokens", page);
dashboardRoutes.get("/workers/:worker", page);
dashboardRoutes.get("/builds/:uuid", page);

dashboardRoutes.get("/dashboard/:file", (c) => {
  const file = DASHBOARD_FILES[c.req.param("file")];
  if (!file) return c.notFound();
  return serve(c, file.body, file.type);
});
