/**
 * Cursor pagination for lists ordered newest first by (created_at, id). The cursor is opaque to
 * clients: base64url of the last item's creation time (microseconds, as Postgres keeps it) and id.
 */
import { ValidationError } from "./envelope";

export interface PageCursor {
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, as `CURSOR_TIMESTAMP_SQL` renders it. */
  createdAt: string;
  id: string;
}

/** @default 20 */
export const DEFAULT_PER_PAGE = 20;
export const MAX_PER_PAGE = 100;

/** SQL that renders a row's `created_at` for a cursor, at the microsecond precision Postgres stores. */
export const CURSOR_TIMESTAMP_SQL = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function encodeCursor(cursor: PageCursor): string {
  return btoa(`${cursor.createdAt}|${cursor.id}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Reads a cursor this API returned; anything else is a validation error on `cursor`. */
export function decodeCursor(encoded: string): PageCursor {
  const invalid = () =>
    new ValidationError(["cursor: not a cursor this API returned; omit it to start over"]);
  if (encoded.length > 200 || !BASE64URL.test(encoded)) throw invalid();
  let text: string;
  try {
    text = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    throw invalid();
  }
  const [createdAt, id, ...rest] = text.split("|");
  if (createdAt === undefined || id === undefined || rest.length > 0) throw invalid();
  if (!UUID.test(id) || !isRealTimestamp(createdAt)) throw invalid();
  return { createdAt, id };
}

function isRealTimestamp(text: string): boolean {
  const m = TIMESTAMP.exec(text);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}

/**
 * Splits the `perPage + 1` rows a page query fetched into the page and the cursor of the next one
 * (null when there is none).
 */
export function pageOf<R>(
  rows: R[],
  perPage: number,
  cursorOf: (row: R) => PageCursor,
): { items: R[]; cursor: string | null } {
  if (rows.length <= perPage) return { items: rows, cursor: null };
  const items = rows.slice(0, perPage);
  return { items, cursor: encodeCursor(cursorOf(items[items.length - 1]!)) };
}
