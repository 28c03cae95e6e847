import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject } from "vitest/config";

// The framework's storage layer, tested in workerd against the test Worker beside it.
export default defineProject({
  // Run with `-c` from the repository's root, the root would otherwise be the working directory.
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [
    cloudflareTest({
      main: "./test-worker.ts",
      miniflare: {
        compatibilityDate: "2026-10-01",
        compatibilityFlags: ["nodejs_compat"],
        durableObjects: {
          STORAGE_TEST_OBJECT: { className: "StorageTestObject", useSQLite: true },
          KV_WRITER: { className: "TestKvWriter", useSQLite: true },
        },
        kvNamespaces: ["STORAGE_TEST_KV"],
      },
    }),
  ],
  test: {
    name: "framework-storage",
    // `npm test` runs four projects at once on two cores: a call into workerd can wait its turn.
    testTimeout: 20_000,
    include: ["**/*.test.ts"],
  },
});
