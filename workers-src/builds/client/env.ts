import type { BuildManagementApi } from "../shared/management-api";
import { ALLOW_FILE_REPOS, API_JWT_SECRET } from "../shared/vars";
import type { ApiTokenScope } from "./schemas";

/** Bindings of the Client Worker. */
export interface ClientEnv {
  /** Service binding to the Build Management Worker's `BuildManagement` entrypoint (RPC). */
  MANAGEMENT: Fetcher & BuildManagementApi;
  HYPERDRIVE: Hyperdrive;
  /** HS256 key of the API's bearer tokens. */
  [API_JWT_SECRET]: string;
  /** Base64 of 32 bytes: seals build secrets and webhook secrets in Postgres. */
  BUILD_VARIABLES_KEY: string;
  /** Release tag of this deployment, on every log line. */
  RELEASE: string;
  /** Build metrics: the client writes the points of builds a newer push superseded. */
  BUILD_METRICS?: AnalyticsEngineDataset;
  /** "true" only on the local stack, whose runner clones `file://` repositories. */
  [ALLOW_FILE_REPOS]: string;
  /**
   * Cloudflare Access in front of the API (people signing in): the team domain
   * (`https://<team>.cloudflareaccess.com`), the application's AUD tag, the claim that names the account
   * (`custom.account`, `email`, or `groups` with `ACCESS_ACCOUNT_GROUPS`, a JSON map of group → account).
   * Unset: only bearer tokens are accepted.
   */
  ACCESS_TEAM_DOMAIN?: string;
  ACCESS_AUDIENCE?: string;
  ACCESS_ACCOUNT_CLAIM?: string;
  ACCESS_ACCOUNT_GROUPS?: string;
}

export interface ClientVariables {
  requestId: string;
  /** The account of the request's token (a JWT's `sub`, an API token's account), set by the auth middleware on `/api/*`. */
  accountId: string;
  /** What the request's token may do: an API token's scope; a JWT's is `write`. */
  scope: ApiTokenScope;
  /** The API token's id; null when the request came with a JWT. */
  apiTokenId: string | null;
}

export interface AppEnv {
  Bindings: ClientEnv;
  Variables: ClientVariables;
}
