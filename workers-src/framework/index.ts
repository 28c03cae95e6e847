// The framework's public API, published as `workers-platform/framework` (built to dist/framework by
// scripts/build-framework.mjs). It runs in workerd and uses no Node built-ins. Its types name the Workers
// runtime's globals (Request, DurableObjectState, KVNamespace, ...) and the `cloudflare:workers` module:
// a Worker that imports it needs those in its tsconfig's `types`, from `@cloudflare/workers-types` (e.g.
// "@cloudflare/workers-types/2023-07-01") or from `wrangler types`. zod is a dependency of the package.

export type {
  DeclaredDurableObject,
  DeclaredKvNamespace,
  FrameworkAppDeclaration,
  LastWriteWinsKvNamespace,
} from "./declaration.js";
export {
  type CallableMethods,
  OBJECT_ID_HEADER,
  type ObjectCall,
  type ObjectPick,
  toObject,
} from "./router/handoff.js";
export {
  type Context,
  type CronHandler,
  type Handler,
  HttpError,
  type HttpMethod,
  type Middleware,
  type ParamNames,
  type PathParams,
  type RouteOptions,
  type Router,
  router,
  toResponse,
} from "./router/router.js";
export { type Admission, type BroadcastOptions, toRoom, WebSocketRoom } from "./router/websocket.js";
export * from "./storage/index.js";
