/** The dashboard's page and modules as the Client Worker serves them. */
import { describe, expect, it } from "vitest";
import { app } from "./app";
import type { ClientEnv } from "./env";
import { DASHBOARD_CSP, DASHBOARD_FILES } from "./routes/dashboard";

const env = {
  API_JWT_SECRET: "dashboard-test-secret",
  RELEASE: "test-release",
  BUILD_VARIABLES_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))),
  ALLOW_FILE_REPOS: "false",
  HYPERDRIVE: { connectionString: "postgresql://user:pw@127.0.0.1:1/platform" } as Hyperdrive,
  MANAGEMENT: {} as ClientEnv["MANAGEMENT"],
} satisfies ClientEnv;

const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers }, env);

describe("dashboard routes", () => {
  it.each(["/", "/sign-in", "/tokens", "/workers/site", "/builds/0b7c1d2e-0000-4000-8000-000000000000"])(
    "%s is the dashboard's page, with no token, under a strict CSP",
    async (path) => {
      const res = await get(path);
      expect(res.status).toBe(200);
      expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("Content-Security-Policy")).toBe(DASHBOARD_CSP);
      expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/dashboard/app.js"></script>');
      expect(html).toContain('<main id="main"');
    },
  );

  it("serves each module as JavaScript compiled for browsers, its imports as the browser fetches them", async () => {
    for (const [name, file] of Object.entries(DASHBOARD_FILES)) {
      const res = await get(`/dashboard/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("Content-Type"), name).toBe(file.type);
      expect(await res.text()).toBe(file.body);
    }
    const app = DASHBOARD_FILES["app.js"]!.body;
    // Types are gone; the imports name the served files.
    expect(app).not.toMatch(/\binterface\s|\btype\s+\w+\s*=|:\s*HTMLElement\b/);
    const imported = [...app.matchAll(/from\s*"\.\/([\w-]+\.js)"/g)].map((m) => m[1]);
    expect(new Set(imported)).toEqual(new Set(["api.js", "log-view.js"]));
    for (const name of imported) expect(DASHBOARD_FILES[name!], name).toBeDefined();
    expect(DASHBOARD_FILES["style.css"]!.body).toContain(".badge");
  });

  it("answers 304 to a matching If-None-Match, and the body again to a stale one", async () => {
    const first = await get("/dashboard/app.js");
    const etag = first.headers.get("ETag")!;
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    expect(first.headers.get("Cache-Control")).toBe("no-cache");
    const again = await get("/dashboard/app.js", { "If-None-Match": etag });
    expect([again.status, await again.text()]).toEqual([304, ""]);
    const stale = await get("/dashboard/app.js", { "If-None-Match": '"0000"' });
    expect(stale.status).toBe(200);
    expect((await get("/", { "If-None-Match": etag })).status).toBe(200);
  });

  it("answers 404 for a module it does not have, and leaves the API's paths to the API", async () => {
    const missing = await get("/dashboard/secrets.js");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: { message: string }[] }).errors[0]!.message).toBe(
      "no route for GET /dashboard/secrets.js",
    );
    expect((await get("/api/workers")).status).toBe(401);
    expect((await get("/builds/x/y")).status).toBe(404);
  });
});
