import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject } from "vitest/config";

// The framework's router layer, tested in workerd against the test Worker beside it.
export default defineProject({
  // Paths (`main`, `include`) are this folder's even when Vitest runs with `-c` from the repository root.
  root: import.meta.dirname,
  plugins: [
    cloudflareTest({
      main: "./test-worker.ts",
      miniflare: {
        compatibilityDate: "2026-10-01",
        compatibilityFlags: ["nodejs_compat"],
        durableObjects: {
          COUNTERS: { className: "Counter", useSQLite: true },
          ROOMS: { className: "ChatRoom", useSQLite: true },
        },
      },
    }),
  ],
  test: {
    name: "framework-router",
    // `npm test` runs four projects at once on two cores: a call into workerd can wait its turn.
    testTimeout: 20_000,
    include: ["**/*.test.ts"],
  },
});
