/**
 * Enums of the provider's args. The schema analyzer turns a TypeScript `enum` into a schema enum, and
 * refuses the literal unions the components take (`"smart" | "off"`); each value here is the string the
 * component expects, so an enum member passes through unchanged.
 */

/** Where a Worker runs. */
export enum Placement {
  /** Smart Placement: Cloudflare runs the Worker near the back ends it calls. */
  Smart = "smart",
  /** Placement off: the Worker runs in the data center that received the request. */
  Off = "off",
}

/** TLS mode of a PostgreSQL connection, as libpq names it. */
export enum SslMode {
  Disable = "disable",
  Require = "require",
  VerifyCa = "verify-ca",
  VerifyFull = "verify-full",
}

/** How the Build Management Worker reaches its build runners. */
export enum ComputeBackend {
  /** Runners reached over HTTP at `runnerUrls`. */
  Http = "http",
  /** Runners in Cloudflare Containers. */
  Container = "container",
}
