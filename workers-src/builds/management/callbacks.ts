import { buddyOf, type ManagementEnv } from "./env";

const ROUTE =
  /^\/api\/builds\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(status|logs|cache)$/;
const MAX_STATUS_BYTES = 4 * 1024;
const MAX_LOG_BODY_BYTES = 16 * 1024 * 1024;
/** Largest cache archive a build may save. */
export const MAX_CACHE_BYTES = 1024 * 1024 * 1024;

function fail(status: number, message: string, headers?: HeadersInit): Response {
  return Response.json({ success: false, errors: [{ code: status, message }] }, { status, headers });
}

function bearer(request: Request): string | null {
  const header = request.headers.get("authorization");
  const match = header?.match(/^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/);
  return match?.[1] ?? null;
}

async function jsonBody(request: Request, limit: number): Promise<{ body: unknown } | Response> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) return fail(413, `body larger than ${limit} bytes`);
  const text = await request.text();
  if (text.length > limit) return fail(413, `body larger than ${limit} bytes`);
  try {
    return { body: JSON.parse(text) };
  } catch {
    return fail(400, "body is not JSON");
  }
}

/** R2 keys of a Worker's build cache. */
export function cachePrefix(workerId: string): string {
  return `cache/${workerId}/`;
}

/** R2 key of a Worker's package-manager cache. */
export function cacheKey(workerId: string): string {
  return `${cachePrefix(workerId)}packages.tar.gz`;
}

/**
 * The runner's callback API. Each request carries its build's callback token; the build's BuildBuddy
 * checks it, so a token opens one build only, and nothing is written for a request it refuses.
 */
export async function handleCallback(
  request: Request,
  env: ManagementEnv,
  ctx: ExecutionContext,
): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/health" && request.method === "GET") {
    return Response.json({ success: true, result: { ok: true, service: "build-management" } });
  }
  const match = url.pathname.match(ROUTE);
  if (!match) return fail(404, `no route for ${request.method} ${url.pathname}`);
  const [, uuid, kind] = match as unknown as [string, string, "status" | "logs" | "cache"];
  const token = bearer(request);
  if (!token) return fail(401, "missing callback token");
  const buddy = buddyOf(env, uuid);

  if (kind === "status" || kind === "logs") {
    if (request.method !== "POST") return fail(405, `${kind} takes POST`, { allow: "POST" });
    const parsed = await jsonBody(request, kind === "status" ? MAX_STATUS_BYTES : MAX_LOG_BODY_BYTES);
    if (parsed instanceof Response) return parsed;
    const result =
      kind === "status"
        ? await buddy.runnerStatus(token, parsed.body)
        : await buddy.runnerLogs(token, parsed.body);
    if (result.error) return fail(result.status, result.error);
    return Response.json({ success: true, result: { accepted: result.accepted } }, { status: result.status });
  }

  const grant = await buddy.cacheGrant(token);
  if (!grant) return fail(401, "invalid callback token");
  if (!grant.cacheEnabled) return fail(404, "build caching is off for this trigger");
  const key = cacheKey(grant.workerId);
  if (request.method === "GET") {
    const object = await env.BUILD_CACHE.get(key);
    if (!object) return fail(404, "no cache entry");
    // Entries expire a fixed time after they were written (the bucket's lifecycle rule): writing the entry
    // again as it is read makes that "after it was last read".
    const [forRunner, forRefresh] = object.body.tee();
    const fixed = new FixedLengthStream(object.size);
    ctx.waitUntil(
      Promise.all([
        forRefresh.pipeTo(fixed.writable),
        // Only over the entry that was read: a newer save or a clear-cache in between wins.
        env.BUILD_CACHE.put(key, fixed.readable, {
          customMetadata: { last_read: new Date().toISOString() },
          onlyIf: { etagMatches: object.etag },
        }),
      ]).catch(() => undefined),
    );
    return new Response(forRunner, {
      headers: { "content-type": "application/gzip", "content-length": String(object.size) },
    });
  }
  if (request.method === "PUT") {
    const length = Number(request.headers.get("content-length") ?? "NaN");
    if (!Number.isInteger(length) || length < 0) return fail(411, "content-length is required");
    if (length > MAX_CACHE_BYTES) return fail(413, `cache archive larger than ${MAX_CACHE_BYTES} bytes`);
    if (!request.body) return fail(400, "empty cache archive");
    await env.BUILD_CACHE.put(key, request.body, {
      httpMetadata: { contentType: "application/gzip" },
      customMetadata: { last_read: new Date().toISOString() },
    });
    return Response.json({ success: true, result: { key, size: length } });
  }
  return fail(405, "cache takes GET or PUT", { allow: "GET, PUT" });
}
