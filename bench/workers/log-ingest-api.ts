/** What `bench/workers/log-ingest.ts` takes and answers, shared with the Node side. */
import type { LogLine } from "../../workers-src/builds/shared/protocol";

export interface StagedBatch {
  seq: number;
  lines: LogLine[];
}

/** `LogStore.append`'s answer for one batch, timed (the Node side does not load Worker code). */
export interface AppendAnswer {
  added: number;
  duplicate: boolean;
  /** Inside the Durable Object. */
  ms: number;
}

/** Work timed inside the Durable Object. */
export interface IngestAnswer {
  /** Lines that became readable. */
  added: number;
  /** Batches the store recognised as already stored. */
  duplicates: number;
  ms: number;
}

export interface ReadAnswer {
  lines: number;
  pages: number;
  ms: number;
}

/** The Worker's routes, `POST /<object>/<method>`, each calling the object's RPC method of that name. */
export type LogIngestMethod = "stage" | "append" | "ingest" | "raw" | "read-all" | "read-raw" | "sha256";
