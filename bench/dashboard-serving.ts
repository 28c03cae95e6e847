import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { browserModuleText } from "../components/browser-modules";
import { bundleWorker } from "../components/bundle";
import { median, ms } from "./stats";

/**
 * How the dashboard is served: bundled into the Client Worker (its routes answer the page and the modules
 * from the script), against the same files as Workers static assets (Miniflare's asset service in front of
 * a user Worker, as `assets.directory` would deploy them). Each round loads the whole page (the HTML and
 * its six files) from each in turn, first fresh and then revalidated with the ETags it got; the
 * baseline is the static assets, in the same run.
 */
const ROUNDS = Number(process.env.BENCH_SERVING_ROUNDS ?? 300);
const DASHBOARD = path.resolve(__dirname, "..", "workers-src", "builds", "dashboard");
const FILES = ["app.js", "api.js", "ansi.js", "log-view.js", "sse.js", "style.css"];
const SOURCES: Record<string, string> = {
  "app.js": "app.ts",
  "api.js": "api.ts",
  "ansi.js": "ansi.ts",
  "log-view.js": "log-view.ts",
  "sse.js": "sse.ts",
  "style.css": "style.css",
};
const PATHS = ["/", ...FILES.map((f) => `/dashboard/${f}`)];

async function loadPage(
  base: string,
  etags: Map<string, string> | null,
): Promise<{ ms: number; bytes: number }> {
  const started = performance.now();
  let bytes = 0;
  await Promise.all(
    PATHS.map(async (p) => {
      const headers: Record<string, string> = {};
      const tag = etags?.get(p);
      if (tag) headers["if-none-match"] = tag;
      const res = await fetch(`${base}${p}`, { headers });
      const body = await res.arrayBuffer();
      if (res.status !== 200 && res.status !== 304) throw new Error(`${base}${p}: ${res.status}`);
      if (etags && !tag && res.headers.get("etag")) etags.set(p, res.headers.get("etag")!);
      if (etags && tag && res.status !== 304)
        throw new Error(`${base}${p}: ${res.status} to a matching ETag`);
      bytes += body.byteLength;
    }),
  );
  return { ms: performance.now() - started, bytes };
}

async function main() {
  const bundled = await bundleWorker(path.join(__dirname, "workers", "dashboard-routes.ts"), {
    nodejsCompat: false,
  });
  const dir = mkdtempSync(path.join(tmpdir(), "dashboard-assets-"));
  const worker = (name: string, contents: string) => ({
    name,
    modules: [{ type: "ESModule" as const, path: "index.js", contents }],
    compatibilityDate: "2026-10-01",
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
  });
  // The same bytes as static assets: the page as the routes serve it, and each module compiled alike.
  const probe = new Miniflare(convertV4MiniflareOptions({ workers: [worker("bundled", bundled.content)] }));
  const bundledUrl = (await probe.unsafeGetDirectURL("bundled")).toString().replace(/\/$/, "");
  writeFileSync(path.join(dir, "index.html"), await (await fetch(`${bundledUrl}/`)).text());
  mkdirSync(path.join(dir, "dashboard"));
  for (const f of FILES)
    writeFileSync(path.join(dir, "dashboard", f), browserModuleText(path.join(DASHBOARD, SOURCES[f]!)));
  const assets = new Miniflare(
    convertV4MiniflareOptions({
      workers: [
        {
          ...worker(
            "assets",
            'export default { fetch() { return new Response("not found", { status: 404 }); } };',
          ),
          assets: {
            directory: dir,
            run_worker_first: ["/api/*"],
            assetConfig: { not_found_handling: "single-page-application" },
          },
        },
      ],
    }),
  );
  try {
    const assetsUrl = (await assets.unsafeGetDirectURL("assets")).toString().replace(/\/$/, "");
    const kinds = { bundled: bundledUrl, assets: assetsUrl } as const;
    const fresh: Record<keyof typeof kinds, number[]> = { bundled: [], assets: [] };
    const revalidated: Record<keyof typeof kinds, number[]> = { bundled: [], assets: [] };
    const bytes: Record<keyof typeof kinds, number> = { bundled: 0, assets: 0 };
    const etags = { bundled: new Map<string, string>(), assets: new Map<string, string>() };
    const order: (keyof typeof kinds)[] = ["bundled", "assets"];
    for (const kind of order) {
      bytes[kind] = (await loadPage(kinds[kind], etags[kind])).bytes; // warm-up, and the ETags
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of i % 2 === 0 ? order : [...order].reverse()) {
        fresh[kind].push((await loadPage(kinds[kind], null)).ms);
        revalidated[kind].push((await loadPage(kinds[kind], etags[kind])).ms);
      }
    }
    const f = { bundled: median(fresh.bundled), assets: median(fresh.assets) };
    const r = { bundled: median(revalidated.bundled), assets: median(revalidated.assets) };
    console.log(
      `dashboard page (HTML and ${FILES.length} files, ${bytes.bundled} / ${bytes.assets} bytes), ${ROUNDS} rounds, load ${loadavg()[0]!.toFixed(1)}:\n` +
        `  fresh load:       bundled ${ms(f.bundled)}, static assets ${ms(f.assets)}: ${(f.bundled / f.assets).toFixed(2)}x\n` +
        `  revalidated (304): bundled ${ms(r.bundled)}, static assets ${ms(r.assets)}: ${(r.bundled / r.assets).toFixed(2)}x\n` +
        `  the Client Worker's script grows by the dashboard's ${(bytes.bundled / 1024).toFixed(0)} KB when bundled`,
    );
  } finally {
    await Promise.all([probe.dispose(), assets.dispose()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
