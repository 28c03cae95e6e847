import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "node",
    environment: "node",
    include: [
      "components/**/*.test.ts",
      "stacks/**/*.test.ts",
      "local/**/*.test.ts",
      "provider/**/*.test.ts",
      "policy/**/*.test.ts",
      "test/**/*.test.ts",
      "workers-src/builds/runner/**/*.test.ts",
    ],
    globalSetup: [
      "./test/sandbox-global-setup.ts",
      "./test/postgres-global-setup.ts",
      "./test/package-global-setup.ts",
    ],
    setupFiles: ["./test/node-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
