import { defineConfig } from "vitest/config";

export default defineConfig({
  // `pg` inside workerd needs these conditions on the root config, or its socket shim is not picked.
  ssr: { resolve: { conditions: ["workerd", "worker", "module", "browser"] } },
  test: {
    projects: [
      "./vitest.node.config.mts",
      "./workers-src/vitest.config.mts",
      "./workers-src/framework/router/vitest.config.mts",
      "./workers-src/framework/storage/vitest.config.mts",
    ],
    // Most end-to-end tests wait on processes, sockets and timers rather than the CPU: more files at once
    // than cores keeps a two-core machine busy.
    maxWorkers: 4,
  },
});
