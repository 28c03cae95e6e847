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
  // Serialised writes: the documents' writes go through the framework's KV writer (bound as KV_WRITER,
  // derived from this), so concurrent edits of one document are applied one after the other, none lost.
  kvNamespaces: ["DEMO_KV"],
  // The app's first class became the chat room: renamed, so objects made under v1 keep their storage.
  renamedClasses: [{ from: "DemoObject", to: "Room" }],
  crons: [STATS_CRON],
};
