import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject } from "vitest/config";

// Worker code runs in workerd. The bindings mirror what the BuildsPlatform composition declares for the
// Build Management Worker; the local target (issue 3) will derive them from the program instead.
export default defineProject({
  plugins: [
    cloudflareTest({
      main: "./builds/management/index.ts",
      miniflare: {
        compatibilityDate: "2026-10-01",
        compatibilityFlags: ["nodejs_compat"],
        durableObjects: {
          BUILD_SCHEDULER: { className: "BuildScheduler", useSQLite: true },
          BUILD_BUDDY: { className: "BuildBuddy", useSQLite: true },
        },
        bindings: { BUILD_TIMEOUT_MINUTES: "20", MAX_CONCURRENT_BUILDS: "6" },
      },
    }),
  ],
  test: {
    name: "workers",
    include: ["**/*.test.ts"],
  },
});
