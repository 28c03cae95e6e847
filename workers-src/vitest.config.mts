import { execFileSync } from "node:child_process";
import path from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import type { Plugin } from "vite";
import { defineProject } from "vitest/config";
import { BROWSER_SUFFIX, browserModuleText } from "../components/browser-modules";

interface PlannedWorker {
  name: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  bindings: Record<string, string>;
  durableObjects: Record<string, { className: string; scriptName?: string; useSQLite: boolean }>;
}

// Worker code runs in workerd with the bindings the program declares for it: the Build Management
// Worker's Durable Objects, vars, compatibility date and flags come from the local target's plan of the
// `local` stack (computed in a plain Node process, where the program evaluates as under `pulumi up`).
// Bindings to what lives outside one Worker (Hyperdrive, R2, Analytics Engine) are exercised end to end
// by the local target's tests.
function plannedWorker(suffix: string): PlannedWorker {
  const root = path.resolve(import.meta.dirname, "..");
  const out = execFileSync(
    process.execPath,
    ["-r", "./local/register.cjs", "local/plan-cli.ts", "--stack", "local"],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  const worker = (JSON.parse(out) as { workers: PlannedWorker[] }).workers.find((w) =>
    w.name.endsWith(suffix),
  );
  if (!worker) throw new Error(`the local stack has no Worker named *${suffix}`);
  return worker;
}

/** `?browser` imports (the dashboard's modules) as a Worker's bundle has them (components/browser-modules.ts). */
// A virtual id ending in `.js`, so that Vite's and Vitest's CSS handling leave a stylesheet's text alone.
const VIRTUAL = "\0browser-module:";
const VIRTUAL_END = ".text.js";
const browserModules: Plugin = {
  name: "browser-modules",
  enforce: "pre",
  async resolveId(id, importer) {
    if (!id.endsWith(BROWSER_SUFFIX)) return null;
    const found = await this.resolve(id.slice(0, -BROWSER_SUFFIX.length), importer, { skipSelf: true });
    return found ? `${VIRTUAL}${found.id}${VIRTUAL_END}` : null;
  },
  load(id) {
    if (!id.startsWith(VIRTUAL)) return null;
    const file = id.slice(VIRTUAL.length, -VIRTUAL_END.length);
    this.addWatchFile(file);
    return `export default ${JSON.stringify(browserModuleText(file))};`;
  },
};

export default defineProject({
  plugins: [
    browserModules,
    cloudflareTest(() => {
      const management = plannedWorker("-builds-management");
      return {
        main: "./builds/management/index.ts",
        miniflare: {
          compatibilityDate: management.compatibilityDate,
          compatibilityFlags: management.compatibilityFlags,
          durableObjects: management.durableObjects,
          bindings: management.bindings,
        },
      };
    }),
  ],
  test: {
    name: "workers",
    // `npm test` runs four projects at once on two cores: a call into workerd can wait its turn.
    testTimeout: 20_000,
    include: ["**/*.test.ts"],
    exclude: ["builds/runner/**", "framework/**", "**/node_modules/**"],
  },
});
