import type { FrameworkAppDeclaration } from "../framework/declaration";

/** How often the document statistics (`GET /stats`) are recomputed. */
export const STATS_CRON = "*/5 * * * *";

/**
 * The framework app's one declaration of its storage and crons: the FrameworkApp component (wired to this
 * app in stacks/framework-app.ts) derives the Worker's bindings, its cron trigger and its Durable Object
 * migrations (recorded in migrations.lock.json) from it.
 */
export const frameworkApp: FrameworkAppDeclaration = {
  durableObjects: {
    ROOMS: { className: "Room" },
    COUNTERS: { className: "Counter" },
    SESSIONS: { className: "Session" },
  },
  // Last-write-wins for now, as the documents have always been written: the framework's KV writer is not
  // in the storage API yet (issue 12).
  kvNamespaces: [{ binding: "DEMO_KV", writes: "last-write-wins" }],
  // The app's first class became the chat room: renamed, so objects made under v1 keep their storage.
  renamedClasses: [{ from: "DemoObject", to: "Room" }],
  crons: [STATS_CRON],
};
