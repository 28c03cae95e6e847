// Routes are registered with plain functions rather than decorators on class methods: no
// `experimentalDecorators` in the build, nothing that depends on decorator metadata, and a handler's
// `params` type is inferred from its path literal, which a decorator on a method cannot pass to the method.
import type * as z from "zod";

/** The names of the `:name` segments of a path literal: `"/users/:id/posts/:post"` → `"id" | "post"`. */
type ColonNames<P extends string> = P extends `${string}:${infer Rest}`
  ? Rest extends `${infer Name}/${infer Tail}`
    ? Name | ColonNames<`/${Tail}`>
    : Rest
  : never;

/** The name of a trailing `*name` segment: `"/files/*path"` → `"path"`. */
type RestName<P extends string> = P extends `${string}/*${infer Name}` ? Name : never;

/** Every parameter name of a path literal: its `:name` segments and its trailing `*name`. */
export type ParamNames<P extends string> = ColonNames<P> | RestName<P>;

/**
 * The `params` of a route, one string per `:name` segment of its path, and for a trailing `*name` the rest
 * of the path (one or more segments, each decoded, joined by "/").
 */
export type PathParams<P extends string> = { [K in ParamNames<P>]: string };

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What one request carries through middleware to its handler. */
export interface Context<
  Env,
  Params = Record<string, string>,
  Body = unknown,
  Query = Record<string, string>,
  Vars = Record<string, unknown>,
> {
  request: Request;
  url: URL;
  env: Env;
  execution: ExecutionContext;
  /** Decoded path parameters; empty in middleware when no route matched. */
  params: Params;
  /** The parsed and validated JSON body when the route declares a `body` schema, else `undefined`. */
  body: Body;
  /** The validated query when the route declares a `query` schema, else the raw query (last value wins). */
  query: Query;
  /** Per-request values set by middleware for later middleware and the handler. */
  vars: Partial<Vars>;
}

/**
 * A route handler. A `Response` is returned as is, `undefined` becomes `204 No Content`, anything else
 * is sent as JSON.
 */
export type Handler<
  Env,
  Params,
  Body = unknown,
  Query = Record<string, string>,
  Vars = Record<string, unknown>,
> = (ctx: Context<Env, Params, Body, Query, Vars>) => unknown;

/** Runs around everything after it: code before `await next()` runs on the way in, after it on the way out. */
export type Middleware<Env, Vars = Record<string, unknown>> = (
  ctx: Context<Env, Record<string, string>, unknown, Record<string, string>, Vars>,
  next: () => Promise<Response>,
) => Response | Promise<Response>;

export type CronHandler<Env> = (
  controller: ScheduledController,
  env: Env,
  execution: ExecutionContext,
) => void | Promise<void>;

export interface RouteOptions<
  B extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
> {
  /** Serve the route only for this hostname (compared case-insensitively). @default any host */
  host?: string;
  /** Parse the request body as JSON and validate it; a mismatch is answered with 400 and the issues. */
  body?: B;
  /** Validate the query string (as an object of strings); a mismatch is answered with 400 and the issues. */
  query?: Q;
}

type Output<S, Otherwise> = S extends z.ZodType ? z.output<S> : Otherwise;

/** Thrown from a handler or middleware to answer with `status` and `{ error: message }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

interface RouteMethod<Env, Vars> {
  <P extends string>(
    path: P,
    handler: Handler<Env, PathParams<P>, undefined, Record<string, string>, Vars>,
  ): Router<Env, Vars>;
  <
    P extends string,
    B extends z.ZodType | undefined = undefined,
    Q extends z.ZodType | undefined = undefined,
  >(
    path: P,
    options: RouteOptions<B, Q>,
    handler: Handler<Env, PathParams<P>, Output<B, undefined>, Output<Q, Record<string, string>>, Vars>,
  ): Router<Env, Vars>;
}

export interface Router<Env, Vars = Record<string, unknown>> {
  get: RouteMethod<Env, Vars>;
  post: RouteMethod<Env, Vars>;
  put: RouteMethod<Env, Vars>;
  patch: RouteMethod<Env, Vars>;
  delete: RouteMethod<Env, Vars>;
  /** Adds middleware; it runs for every request, matched or not, in registration order. */
  use(middleware: Middleware<Env, Vars>): Router<Env, Vars>;
  /** Runs `handler` for scheduled events whose `cron` is exactly `expression`. */
  cron(expression: string, handler: CronHandler<Env>): Router<Env, Vars>;
  /** The Worker's `fetch` handler. */
  fetch: (request: Request, env: Env, execution: ExecutionContext) => Promise<Response>;
  /** The Worker's `scheduled` handler; an event with no registered cron handler fails. */
  scheduled: (controller: ScheduledController, env: Env, execution: ExecutionContext) => Promise<void>;
}

interface Route<Env> {
  method: HttpMethod;
  host: string | undefined;
  segments: string[];
  body: z.ZodType | undefined;
  query: z.ZodType | undefined;
  handler: Handler<Env, Record<string, string>, unknown, unknown, unknown>;
}

const json = (status: number, value: unknown, headers?: HeadersInit) => {
  const res = Response.json(value, { status });
  for (const [k, v] of new Headers(headers)) res.headers.set(k, v);
  return res;
};

/** The `Allow` header for a path served by `methods`: HEAD comes with GET, and OPTIONS always. */
export function allowHeader(methods: HttpMethod[]): string {
  const all = new Set<string>(methods);
  if (all.has("GET")) all.add("HEAD");
  all.add("OPTIONS");
  return [...all].join(", ");
}

/**
 * A HEAD answer: the status and headers of the response, without its body (cancelled unread: it may be a
 * stream that never ends). A `content-length` the response gave is kept.
 */
async function withoutBody(response: Response): Promise<Response> {
  await response.body?.cancel();
  return new Response(null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * How a handler's result is answered: see {@link Handler}. A Response is copied because one from `fetch()`
 * or RPC has immutable headers, and middleware must be able to set headers on its way out.
 */
export function toResponse(result: unknown): Response {
  if (result instanceof Response) {
    const { status, statusText, headers, webSocket } = result;
    return new Response(result.body, { status, statusText, headers, webSocket });
  }
  if (result === undefined) return new Response(null, { status: 204 });
  return Response.json(result);
}

const splitPath = (path: string) => path.split("/").filter((s) => s !== "");

/** A route's segments, checked once at registration: a `*name` rest segment comes last and has a name. */
function patternOf(method: string, path: string): string[] {
  const segments = splitPath(path);
  segments.forEach((segment, i) => {
    if (!segment.startsWith("*")) return;
    if (segment.length === 1 || i !== segments.length - 1) {
      throw new TypeError(`router: ${method} ${path}: a "*name" segment must be named and come last`);
    }
  });
  return segments;
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | undefined {
  const rest = pattern.at(-1)?.startsWith("*") === true;
  if (rest ? actual.length < pattern.length : pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of pattern.entries()) {
    const value = actual[i]!;
    if (part.startsWith("*")) {
      params[part.slice(1)] = actual.slice(i).map(decodeURIComponent).join("/");
    } else if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(value);
    else if (part !== value) return undefined;
  }
  return params;
}

async function validate(route: Pick<Route<unknown>, "body" | "query">, request: Request, url: URL) {
  let body: unknown;
  if (route.body) {
    let raw: unknown;
    try {
      raw = await request.json();
    } catch {
      throw new HttpError(400, "request body is not valid JSON");
    }
    const parsed = await route.body.safeParseAsync(raw);
    if (!parsed.success) return { error: invalid("body", parsed.error) };
    body = parsed.data;
  }
  let query: unknown = Object.fromEntries(url.searchParams);
  if (route.query) {
    const parsed = await route.query.safeParseAsync(query);
    if (!parsed.success) return { error: invalid("query", parsed.error) };
    query = parsed.data;
  }
  return { body, query };
}

const invalid = (where: "body" | "query", error: z.ZodError) =>
  json(400, { error: `request ${where} does not match the route's schema`, issues: error.issues });

/** Creates a router; `Env` is the Worker's bindings, `Vars` what middleware shares through `ctx.vars`. */
export function router<Env, Vars = Record<string, unknown>>(): Router<Env, Vars> {
  const routes: Route<Env>[] = [];
  const middleware: Middleware<Env, Vars>[] = [];
  const crons = new Map<string, CronHandler<Env>>();

  const add =
    (method: HttpMethod) =>
    (
      path: string,
      optionsOrHandler: RouteOptions<z.ZodType, z.ZodType> | Route<Env>["handler"],
      maybe?: unknown,
    ) => {
      const options = typeof optionsOrHandler === "function" ? {} : optionsOrHandler;
      const handler = (
        typeof optionsOrHandler === "function" ? optionsOrHandler : maybe
      ) as Route<Env>["handler"];
      if (typeof handler !== "function")
        throw new TypeError(`router: ${method} ${path} needs a handler function`);
      routes.push({
        method,
        host: options.host?.toLowerCase(),
        segments: patternOf(method, path),
        body: options.body,
        query: options.query,
        handler,
      });
      return app;
    };

  async function dispatch(
    route: Route<Env> | undefined,
    allowed: HttpMethod[],
    ctx: Context<Env, Record<string, string>, unknown, unknown, Vars>,
  ): Promise<Response> {
    if (!route) {
      if (allowed.length === 0) return json(404, { error: `no route for ${ctx.url.pathname}` });
      const allow = allowHeader(allowed);
      if (ctx.request.method === "OPTIONS") return new Response(null, { status: 204, headers: { allow } });
      return json(405, { error: `${ctx.request.method} is not allowed on ${ctx.url.pathname}` }, { allow });
    }
    try {
      const checked = await validate(route, ctx.request, ctx.url);
      if (checked.error) return checked.error;
      ctx.body = checked.body;
      ctx.query = checked.query;
      return toResponse(await route.handler(ctx as Context<Env, Record<string, string>>));
    } catch (e) {
      // Answered here so that middleware sees the error response on its way out.
      if (e instanceof HttpError) return json(e.status, { error: e.message });
      throw e;
    }
  }

  const app: Router<Env, Vars> = {
    get: add("GET") as RouteMethod<Env, Vars>,
    post: add("POST") as RouteMethod<Env, Vars>,
    put: add("PUT") as RouteMethod<Env, Vars>,
    patch: add("PATCH") as RouteMethod<Env, Vars>,
    delete: add("DELETE") as RouteMethod<Env, Vars>,
    use(mw) {
      middleware.push(mw);
      return app;
    },
    cron(expression, handler) {
      if (crons.has(expression)) throw new Error(`router: cron "${expression}" already has a handler`);
      crons.set(expression, handler);
      return app;
    },
    async fetch(request, env, execution) {
      const url = new URL(request.url);
      const hostname = url.hostname.toLowerCase();
      const actual = splitPath(url.pathname);
      let matched: Route<Env> | undefined;
      let params: Record<string, string> = {};
      const allowed: HttpMethod[] = [];
      try {
        for (const route of routes) {
          if (route.host !== undefined && route.host !== hostname) continue;
          const found = matchSegments(route.segments, actual);
          if (!found) continue;
          const method = request.method === "HEAD" ? "GET" : request.method;
          if (route.method !== method) {
            if (!allowed.includes(route.method)) allowed.push(route.method);
            continue;
          }
          matched = route;
          params = found;
          break;
        }
      } catch (e) {
        if (e instanceof URIError) {
          const bad = json(400, { error: `path ${url.pathname} is not validly percent-encoded` });
          return request.method === "HEAD" ? withoutBody(bad) : bad;
        }
        throw e;
      }
      const ctx: Context<Env, Record<string, string>, unknown, unknown, Vars> = {
        request,
        url,
        env,
        execution,
        params,
        body: undefined,
        query: Object.fromEntries(url.searchParams),
        vars: {},
      };
      const run = (i: number): Promise<Response> => {
        const mw = middleware[i];
        if (!mw) return dispatch(matched, allowed, ctx);
        return Promise.resolve(mw(ctx as Parameters<Middleware<Env, Vars>>[0], () => run(i + 1)));
      };
      let response: Response;
      try {
        response = await run(0);
      } catch (e) {
        if (e instanceof HttpError) response = json(e.status, { error: e.message });
        else throw e;
      }
      // HEAD is answered by the GET route (or the error): its status and headers, without the body.
      return request.method === "HEAD" ? withoutBody(response) : response;
    },
    async scheduled(controller, env, execution) {
      const handler = crons.get(controller.cron);
      if (!handler) {
        throw new Error(`router: no handler for cron "${controller.cron}"; register one with app.cron()`);
      }
      await handler(controller, env, execution);
    },
  };
  return app;
}
