/**
 * Reading request input: bodies within a size limit, JSON that parses, and zod schemas whose issues
 * become one `400` listing each as `<path>: <reason>`.
 */
import type * as z from "zod";
import { MalformedJsonError, PayloadTooLargeError, ValidationError } from "./envelope";

/** @default 64 KiB for the JSON routes. */
export const JSON_BODY_LIMIT = 64 * 1024;
/** Push payloads of large commits run to hundreds of KiB. */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

/** Reads the whole body, refusing (413) as soon as it passes `maxBytes`, whatever Content-Length says. */
export async function readBodyBytes(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("Content-Length"));
  if (Number.isFinite(declared) && declared > maxBytes) throw new PayloadTooLargeError(maxBytes);
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Parses UTF-8 JSON bytes; an empty body reads as `{}` so that all-optional bodies may be left out. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return {};
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new MalformedJsonError("not UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedJsonError(err instanceof SyntaxError ? err.message : "parse error");
  }
}

export async function readJsonBody(request: Request, maxBytes = JSON_BODY_LIMIT): Promise<unknown> {
  return parseJsonBytes(await readBodyBytes(request, maxBytes));
}

/** Validates `input` with `schema`; `root` names the input in messages about the whole of it. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, root: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => `${formatPath(root, issue.path)}: ${issue.message}`),
  );
}

/** `env_vars[0].value`; the root name when the issue is about the input as a whole. */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  if (path.length === 0) return root;
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : `${i === 0 ? "" : "."}${String(key)}`))
    .join("");
}
