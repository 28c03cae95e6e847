/**
 * Verification of Cloudflare Access application tokens (the `Cf-Access-Jwt-Assertion` request header), on
 * Web Crypto alone so it runs in workerd and in Node 20+.
 *
 * Access signs its tokens with RS256 keys published at `https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`
 * (`keys` in JWK form, the current and the previous key). The keys rotate every six weeks, the previous key
 * still published for a while after, so {@link createAccessKeys} caches the key set and refetches it when a
 * token names a `kid` it does not know — at most once per refetch interval, so a flood of made-up key ids
 * cannot be turned into a flood of requests to the team domain.
 *
 * {@link verifyAccessJwt} checks a token and answers the account it acts for, read from a claim of the
 * token ({@link AccessConfig.accountClaim}), or from the caller's groups through a group → account map.
 */

/** The request header Access puts the application token in. */
export const ACCESS_JWT_HEADER = "Cf-Access-Jwt-Assertion";

/** The path of the key set under the team domain. */
export const ACCESS_CERTS_PATH = "/cdn-cgi/access/certs";

/** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. */
export const ACCESS_CLOCK_SKEW_SECONDS = 60;

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const CLAIM_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Tokens with many groups are large, but not this large. */
const MAX_TOKEN_LENGTH = 64 * 1024;
const MIN_MODULUS_BITS = 2048;
/** Hosts a team domain may name over plain http: a key server on this machine stands in for Access. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export interface AccessConfig {
  /**
   * `https://<team>.cloudflareaccess.com`: the issuer of the tokens and the host of their keys. Plain http
   * only on a loopback host (`http://127.0.0.1:<port>`, `localhost`, `[::1]`): a local key server.
   */
  teamDomain: string;
  /** The Access application's audience (AUD) tag; a token must list it in `aud`. */
  audience: string;
  /**
   * Where the account id is in the token: a claim path such as `"custom.account"`, `"email"` or
   * `"groups"`. Without {@link accountGroups} the claim's value must itself be an account id.
   */
  accountClaim: string;
  /**
   * Group name → account id. When set, the claim at {@link accountClaim} is a list of groups (names, or
   * objects with a `name` or `id`), and the account is that of the first entry of this map, in its own
   * order, whose group the caller is in. Required when the claim is `"groups"`.
   */
  accountGroups?: Record<string, string>;
}

/** What a verified token answers. */
export interface AccessIdentity {
  accountId: string;
  email?: string;
  /** `sub` (the user's id), or the service token's `common_name` when `sub` is empty. */
  subject: string;
}

/** A configuration {@link validateAccessConfig} refuses. */
export class AccessConfigError extends Error {
  override name = "AccessConfigError";
}

export type AccessErrorReason =
  | "malformed"
  | "algorithm"
  | "unknown_kid"
  | "keys_unavailable"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "issuer"
  | "audience"
  | "subject"
  | "account";

/** A token {@link verifyAccessJwt} refuses; `reason` is stable to switch on, the message says why. */
export class AccessError extends Error {
  override name = "AccessError";
  constructor(
    readonly reason: AccessErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks a configuration and answers it normalized (the team domain without a trailing slash); throws
 * {@link AccessConfigError} naming every problem.
 */
export function validateAccessConfig(config: AccessConfig): AccessConfig {
  const problems: string[] = [];
  let teamDomain = "";
  if (typeof config?.teamDomain !== "string" || config.teamDomain.trim() === "") {
    problems.push("teamDomain is empty: set it to https://<team>.cloudflareaccess.com");
  } else {
    teamDomain = config.teamDomain.trim().replace(/\/+$/, "");
    let url: URL | undefined;
    try {
      url = new URL(teamDomain);
    } catch {
      problems.push(`teamDomain ${JSON.stringify(config.teamDomain)} is not a URL`);
    }
    if (url !== undefined) {
      if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))) {
        problems.push(
          `teamDomain must be an https URL, not ${url.protocol.replace(/:$/, "")} (plain http only on 127.0.0.1, localhost or [::1], a local key server)`,
        );
      } else if (url.origin !== teamDomain) {
        problems.push(
          `teamDomain must be an origin alone (https://<team>.cloudflareaccess.com), without path, query, port or credentials: got ${JSON.stringify(config.teamDomain)}`,
        );
      }
    }
  }
  const audience = typeof config?.audience === "string" ? config.audience.trim() : "";
  if (audience === "") problems.push("audience is empty: set it to the Access application's AUD tag");
  else if (audience !== config.audience) problems.push("audience has leading or trailing whitespace");
  const claim = typeof config?.accountClaim === "string" ? config.accountClaim : "";
  if (claim === "") {
    problems.push('accountClaim is empty: name the claim holding the account, e.g. "custom.account"');
  } else if (!claim.split(".").every((segment) => CLAIM_SEGMENT.test(segment))) {
    problems.push(
      `accountClaim ${JSON.stringify(claim)} is not a claim path: names of letters, digits, _ or -, joined by "."`,
    );
  }
  const groups = config?.accountGroups;
  if (groups !== undefined) {
    if (typeof groups !== "object" || groups === null || Array.isArray(groups)) {
      problems.push("accountGroups must be an object of group name → account id");
    } else {
      const entries = Object.entries(groups);
      if (entries.length === 0) problems.push("accountGroups is empty: map at least one group to an account");
      for (const [group, account] of entries) {
        if (group === "") problems.push("accountGroups has an empty group name");
        if (typeof account !== "string" || !ACCOUNT_ID.test(account)) {
          problems.push(
            `accountGroups[${JSON.stringify(group)}] is not an account id: 1 to 64 letters, digits, _ or -`,
          );
        }
      }
    }
  } else if (claim === "groups") {
    problems.push('accountClaim "groups" needs accountGroups: a map of group name → account id');
  }
  if (problems.length > 0)
    throw new AccessConfigError(`invalid Access configuration: ${problems.join("; ")}`);
  return {
    teamDomain,
    audience,
    accountClaim: claim,
    ...(groups === undefined ? {} : { accountGroups: { ...groups } }),
  };
}

/** Fetches the key set: `fetch`, or a stand-in for the team domain in tests. */
export type AccessFetcher = (url: string, init?: RequestInit) => Promise<Response>;

export interface AccessKeysOptions {
  /** How long a fetched key set is used without `Cache-Control: max-age`; 1 h. */
  defaultTtlMs?: number;
  /** Upper bound on a `max-age`; 24 h. */
  maxTtlMs?: number;
  /** The least time between two fetches of the key set, whatever triggers them; 30 s. */
  minRefetchIntervalMs?: number;
  /** A fetch that takes longer is abandoned (and counts as failed); 5 s. */
  fetchTimeoutMs?: number;
}

/** The cached signing keys of one team domain. */
export interface AccessKeys {
  readonly teamDomain: string;
  readonly certsUrl: string;
  /**
   * The key of `kid`. Fetches the key set when it has none, when it is stale, or when `kid` is unknown,
   * unless the last fetch began less than the refetch interval ago; concurrent callers share one fetch.
   * Answers undefined for a kid the key set does not have; throws {@link AccessError} `keys_unavailable`
   * when no key set could ever be fetched.
   */
  get(kid: string): Promise<CryptoKey | undefined>;
  /** Fetches now (still rate-limited and shared); a failed fetch keeps the keys it had. */
  refresh(): Promise<void>;
  /** The reason the last fetch failed, or undefined when it succeeded (or none was made yet). */
  readonly lastError: string | undefined;
}

interface Jwk {
  kty?: unknown;
  alg?: unknown;
  kid?: unknown;
  use?: unknown;
  n?: unknown;
  e?: unknown;
}

/** Creates the key cache of `config`'s team domain. Nothing is fetched until a key is asked for. */
export function createAccessKeys(
  config: AccessConfig,
  fetcher: AccessFetcher = fetch,
  now: () => number = Date.now,
  options: AccessKeysOptions = {},
): AccessKeys {
  const { teamDomain } = validateAccessConfig(config);
  const certsUrl = `${teamDomain}${ACCESS_CERTS_PATH}`;
  const defaultTtlMs = options.defaultTtlMs ?? 60 * 60 * 1000;
  const maxTtlMs = options.maxTtlMs ?? 24 * 60 * 60 * 1000;
  const minInterval = options.minRefetchIntervalMs ?? 30 * 1000;
  const timeoutMs = options.fetchTimeoutMs ?? 5000;

  let keys: Map<string, CryptoKey> | undefined;
  let expiresAt = Number.NEGATIVE_INFINITY;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let inflight: Promise<void> | undefined;
  let lastError: string | undefined;

  async function load(): Promise<void> {
    let response: Response;
    try {
      response = await fetcher(certsUrl, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new Error(`fetching ${certsUrl} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`fetching ${certsUrl} answered HTTP ${response.status}`);
    }
    let body: unknown;
    try {
      body = await response.json();
    } catch {
      throw new Error(`${certsUrl} did not answer JSON`);
    }
    const list = (body as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(list)) throw new Error(`${certsUrl} answered no "keys" array`);
    const fresh = new Map<string, CryptoKey>();
    for (const jwk of list as Jwk[]) {
      const key = await importJwk(jwk);
      if (key !== undefined) fresh.set(jwk.kid as string, key);
    }
    if (fresh.size === 0) throw new Error(`${certsUrl} answered no usable RS256 key`);
    keys = fresh;
    expiresAt = now() + ttl(response.headers.get("cache-control"));
  }

  function ttl(cacheControl: string | null): number {
    const maxAge =
      cacheControl === null ? undefined : /(?:^|[,\s])max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
    if (maxAge?.[1] === undefined) return defaultTtlMs;
    return Math.min(Number(maxAge[1]) * 1000, maxTtlMs);
  }

  /** Starts a fetch unless one is under way (then joins it) or the last began too recently. */
  function refresh(): Promise<void> {
    if (inflight !== undefined) return inflight;
    if (now() - lastAttempt < minInterval) return Promise.resolve();
    lastAttempt = now();
    inflight = load()
      .then(
        () => {
          lastError = undefined;
        },
        (err: unknown) => {
          // The keys fetched before stay in use: Access keeps the previous key published after a rotation.
          lastError = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  async function get(kid: string): Promise<CryptoKey | undefined> {
    if (inflight !== undefined) await inflight;
    if (keys === undefined || now() >= expiresAt || !keys.has(kid)) await refresh();
    if (keys === undefined) {
      throw new AccessError(
        "keys_unavailable",
        `no Access signing keys: ${lastError ?? `${certsUrl} not fetched yet`}`,
      );
    }
    return keys.get(kid);
  }

  return {
    teamDomain,
    certsUrl,
    get,
    refresh,
    get lastError() {
      return lastError;
    },
  };
}

async function importJwk(jwk: Jwk): Promise<CryptoKey | undefined> {
  if (typeof jwk !== "object" || jwk === null) return undefined;
  if (jwk.kty !== "RSA" || jwk.alg !== "RS256") return undefined;
  if (jwk.use !== undefined && jwk.use !== "sig") return undefined;
  if (typeof jwk.kid !== "string" || jwk.kid === "") return undefined;
  if (typeof jwk.n !== "string" || typeof jwk.e !== "string") return undefined;
  if (!BASE64URL.test(jwk.n) || !BASE64URL.test(jwk.e)) return undefined;
  const modulus = base64UrlDecode(jwk.n);
  let bits = modulus.length * 8;
  for (const byte of modulus) {
    if (byte !== 0) {
      bits -= Math.clz32(byte) - 24;
      break;
    }
    bits -= 8;
  }
  if (bits < MIN_MODULUS_BITS) return undefined;
  try {
    return await crypto.subtle.importKey(
      "jwk",
      { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true },
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["verify"],
    );
  } catch {
    return undefined;
  }
}

function base64UrlDecode(text: string): Uint8Array {
  const binary = atob(
    text
      .replace(/-/g, "+")
      .replace(/_/g, "/")
      .padEnd(Math.ceil(text.length / 4) * 4, "="),
  );
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(
      new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(base64UrlDecode(part)),
    );
  } catch {
    throw new AccessError("malformed", `malformed token: the ${what} is not base64url JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AccessError("malformed", `malformed token: the ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** A kid as it may appear in a message: printable and short, or not at all. */
function shownKid(kid: string): string {
  return /^[A-Za-z0-9_.-]{1,128}$/.test(kid) ? JSON.stringify(kid) : "(not shown)";
}

function numericClaim(payload: Record<string, unknown>, name: string): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new AccessError("malformed", `malformed token: ${name} is not a number of seconds`);
  }
  return value;
}

function claimAt(payload: Record<string, unknown>, path: string): unknown {
  let value: unknown = payload;
  for (const segment of path.split(".")) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function accountOf(payload: Record<string, unknown>, config: AccessConfig): string {
  const claim = config.accountClaim;
  const value = claimAt(payload, claim);
  if (config.accountGroups !== undefined) {
    const list = typeof value === "string" ? [value] : Array.isArray(value) ? value : undefined;
    if (list === undefined) throw new AccessError("account", `token has no ${claim} claim listing groups`);
    const names = new Set<string>();
    for (const entry of list) {
      if (typeof entry === "string") names.add(entry);
      else if (typeof entry === "object" && entry !== null) {
        const { name, id } = entry as { name?: unknown; id?: unknown };
        if (typeof name === "string") names.add(name);
        if (typeof id === "string") names.add(id);
      }
    }
    for (const [group, account] of Object.entries(config.accountGroups)) {
      if (names.has(group)) return account;
    }
    throw new AccessError("account", `token's ${claim} include no group mapped to an account`);
  }
  if (value === undefined) throw new AccessError("account", `token has no ${claim} claim`);
  if (typeof value !== "string" || !ACCOUNT_ID.test(value)) {
    throw new AccessError(
      "account",
      `token's ${claim} claim is not an account id: 1 to 64 letters, digits, _ or -`,
    );
  }
  return value;
}

/**
 * Verifies an Access application token and answers who it is for. Throws {@link AccessError} for any token
 * it does not accept (and {@link AccessConfigError} for a bad configuration): RS256 only, signed by a key
 * `keys` has (refetched once, rate-limited, on an unknown kid), `exp` required, `exp`/`nbf`/`iat` with
 * {@link ACCESS_CLOCK_SKEW_SECONDS} of skew, `iss` the team domain, `aud` listing the audience.
 */
export async function verifyAccessJwt(
  token: string,
  config: AccessConfig,
  keys: AccessKeys,
  now: number = Date.now(),
): Promise<AccessIdentity> {
  const cfg = validateAccessConfig(config);
  if (keys.teamDomain !== cfg.teamDomain) {
    throw new AccessConfigError(
      `the keys are those of ${keys.teamDomain}, not of the team domain ${cfg.teamDomain}`,
    );
  }
  if (typeof token !== "string" || token === "") throw new AccessError("malformed", "malformed token: empty");
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AccessError("malformed", `malformed token: longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new AccessError("malformed", "malformed token: not three base64url parts separated by dots");
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  if (!parts.every((part) => BASE64URL.test(part))) {
    throw new AccessError("malformed", "malformed token: a part is empty or not base64url");
  }
  const header = decodeJsonPart(headerPart, "header");
  if (header.alg !== "RS256") {
    // Refusing anything else first keeps out `none` and HS256 keyed with the public key (key confusion).
    const alg = typeof header.alg === "string" ? JSON.stringify(header.alg.slice(0, 20)) : "missing";
    throw new AccessError("algorithm", `token alg is ${alg}: only RS256 is accepted`);
  }
  if (header.crit !== undefined) {
    throw new AccessError("malformed", "malformed token: critical header extensions are not supported");
  }
  if (typeof header.kid !== "string" || header.kid === "") {
    throw new AccessError("malformed", "malformed token: the header has no kid");
  }
  const payload = decodeJsonPart(payloadPart, "payload");

  const key = await keys.get(header.kid);
  if (key === undefined) {
    throw new AccessError(
      "unknown_kid",
      `token signed with key ${shownKid(header.kid)}, which ${keys.certsUrl} does not publish`,
    );
  }
  let valid = false;
  try {
    valid = await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key,
      base64UrlDecode(signaturePart),
      new TextEncoder().encode(`${headerPart}.${payloadPart}`),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new AccessError("signature", "token signature does not verify");

  const seconds = now / 1000;
  const skew = ACCESS_CLOCK_SKEW_SECONDS;
  const exp = numericClaim(payload, "exp");
  if (exp === undefined) throw new AccessError("malformed", "malformed token: no exp claim");
  if (seconds >= exp + skew) throw new AccessError("expired", "token expired");
  const nbf = numericClaim(payload, "nbf");
  if (nbf !== undefined && seconds < nbf - skew) {
    throw new AccessError("not_yet_valid", "token not yet valid (nbf is in the future)");
  }
  const iat = numericClaim(payload, "iat");
  if (iat !== undefined && iat > seconds + skew) {
    throw new AccessError("not_yet_valid", "token not yet valid (iat is in the future)");
  }
  if (payload.iss !== cfg.teamDomain) {
    throw new AccessError("issuer", `token issuer is not the team domain ${cfg.teamDomain}`);
  }
  const aud = payload.aud;
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.includes(cfg.audience)) {
    throw new AccessError("audience", `token audience does not include the expected ${cfg.audience}`);
  }

  const sub = payload.sub;
  const commonName = payload.common_name;
  if (sub !== undefined && typeof sub !== "string") {
    throw new AccessError("malformed", "malformed token: sub is not a string");
  }
  const subject =
    typeof sub === "string" && sub !== ""
      ? sub
      : typeof commonName === "string" && commonName !== ""
        ? commonName
        : undefined;
  if (subject === undefined) throw new AccessError("subject", "token has neither sub nor common_name");

  const accountId = accountOf(payload, cfg);
  const email = payload.email;
  return typeof email === "string" && email !== "" ? { accountId, email, subject } : { accountId, subject };
}
