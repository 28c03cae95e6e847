import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { D1Database, KV_WRITER_BINDING, KV_WRITER_CLASS, KvNamespace, Worker } from "workers-platform";

const accountId = new pulumi.Config().require("accountId");

// Notes live in KV; their writes go through the framework's per-key writer (a Durable Object), so two
// concurrent edits of one note are applied one after the other.
const notes = new KvNamespace("notes", { accountId });

// Comments live in D1; the migrations folder is applied at deploy (and by the local target at start).
const db = new D1Database("db", { accountId, migrationsDir: path.join(__dirname, "migrations") });

const board = new Worker("board", {
  accountId,
  entry: path.join(__dirname, "src", "worker.ts"),
  compatibilityDate: "2026-10-01",
  kvNamespaces: { NOTES: notes },
  d1Databases: { DB: db },
  durableObjects: {
    COUNTERS: { className: "Counter" },
    [KV_WRITER_BINDING]: { className: KV_WRITER_CLASS },
  },
  // Append-only: a later change adds a step (a new tag), never edits this one.
  durableObjectMigrations: [{ tag: "v1", newClasses: ["Counter", KV_WRITER_CLASS] }],
});

export const scriptName = board.scriptName;
export const databaseId = db.id;
