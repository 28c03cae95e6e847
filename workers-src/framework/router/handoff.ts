import type { Handler } from "./router.js";
import { toResponse } from "./router.js";

/**
 * Which Durable Object serves a request:
 * - `name`: `idFromName(params[param])`, the same object for the same name;
 * - `id`: `idFromString(params[param])`, answered with 400 when the id is not one of the namespace's;
 * - `new`: `newUniqueId()`, returned to the caller in the {@link OBJECT_ID_HEADER} header.
 */
export type ObjectPick<K extends string> = { by: "name"; param: K } | { by: "id"; param: K } | { by: "new" };

/** What a handed-off route passes to the object's method over RPC. */
export interface ObjectCall<Params = Record<string, string>, Body = unknown, Query = Record<string, string>> {
  params: Params;
  body: Body;
  query: Query;
}

/** The response header that carries the id of an object created by a `{ by: "new" }` route. */
export const OBJECT_ID_HEADER = "x-object-id";

type Lifecycle = "fetch" | "alarm" | "webSocketMessage" | "webSocketClose" | "webSocketError";

/** The methods of `T` a route can hand off to: its one-argument RPC methods, not its runtime handlers. */
export type CallableMethods<T> = {
  [M in keyof T]: M extends Lifecycle ? never : T[M] extends (call: never) => unknown ? M : never;
}[keyof T] &
  string;

export type PickedObject<T extends Rpc.DurableObjectBranded | undefined> =
  | { stub: DurableObjectStub<T>; id: DurableObjectId }
  | { error: Response };

/** Resolves the object a request is for, or the 400 response when its id is not valid. */
export function pickObject<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  pick: ObjectPick<string>,
  params: Record<string, string>,
): PickedObject<T> {
  let id: DurableObjectId;
  if (pick.by === "new") id = namespace.newUniqueId();
  else {
    const value = params[pick.param];
    if (value === undefined) {
      throw new Error(`handoff: the route has no :${pick.param} parameter to pick its object by`);
    }
    if (pick.by === "name") id = namespace.idFromName(value);
    else {
      try {
        id = namespace.idFromString(value);
      } catch {
        const error = Response.json(
          {
            error: `:${pick.param} "${value}" is not a valid object id (64 hex digits made by this namespace)`,
          },
          { status: 400 },
        );
        return { error };
      }
    }
  }
  return { stub: namespace.get(id), id };
}

/**
 * A handler that serves the route with a Durable Object: picks the object from the request and calls
 * `method` on it over RPC with an {@link ObjectCall}. The method's result is answered like a handler's:
 * a `Response` as is, `undefined` as 204, anything else as JSON (201 when the object is new).
 *
 * Type `namespace`'s `env` (`(env: Env) => env.ROOMS`): checking `method` needs the object's type before
 * TypeScript would infer `env` from the route.
 */
export function toObject<
  Env,
  T extends Rpc.DurableObjectBranded,
  M extends CallableMethods<T>,
  K extends string = never,
>(
  namespace: (env: Env) => DurableObjectNamespace<T>,
  pick: ObjectPick<K>,
  method: M,
): Handler<Env, Record<K, string>, unknown, unknown, unknown> {
  return async (ctx) => {
    const picked = pickObject(namespace(ctx.env), pick, ctx.params);
    if ("error" in picked) return picked.error;
    const call: ObjectCall<Record<string, string>, unknown, unknown> = {
      params: ctx.params,
      body: ctx.body,
      query: ctx.query,
    };
    const target = picked.stub as unknown as Record<
      string,
      (call: ObjectCall<unknown, unknown, unknown>) => unknown
    >;
    const result = await target[method]!(call);
    if (pick.by !== "new") return result;
    // A new object is only reachable by its id afterwards, so the caller gets it with the answer.
    let res: Response;
    if (result instanceof Response) res = toResponse(result);
    else if (result === undefined) res = new Response(null, { status: 201 });
    else res = Response.json(result, { status: 201 });
    res.headers.set(OBJECT_ID_HEADER, picked.id.toString());
    return res;
  };
}
