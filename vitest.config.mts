import { defineConfig } from "vitest/config";

export default defineConfig({
  // `pg` inside workerd needs these conditions on the root config, or its socket shim is not picked.
  ssr: { resolve: { conditions: ["workerd", "worker", "module", "browser"] } },
  test: {
    projects: ["./vitest.node.config.mts", "./workers-src/vitest.config.mts"],
  },
});
