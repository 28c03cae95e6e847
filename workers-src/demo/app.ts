import type { FrameworkAppDeclaration } from "../../components/framework-declaration";

/**
 * The demo app's one declaration of its storage: the FrameworkDemo component derives the Worker's bindings
 * and its Durable Object migrations (recorded in migrations.lock.json) from it.
 */
/** How often the document statistics (`GET /stats`) are recomputed. */
export const STATS_CRON = "*/5 * * * *";

export const demoApp: FrameworkAppDeclaration = {
  durableObjects: {
    ROOMS: { className: "Room" },
    COUNTERS: { className: "Counter" },
    SESSIONS: { className: "Session" },
  },
  kvNamespaces: ["DEMO_KV"],
  // The first demo's one class became the chat room: renamed, so objects made under v1 keep their storage.
  renamedClasses: [{ from: "DemoObject", to: "Room" }],
  crons: [STATS_CRON],
};
