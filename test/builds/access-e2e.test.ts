/**
 * Cloudflare Access end to end on the local target: the Client Worker, in workerd, verifies the
 * `Cf-Access-Jwt-Assertion` tokens of this test against a key server of its own on 127.0.0.1 (a loopback
 * team domain, which the local stack allows over plain http), fetching the key set over HTTP as it would
 * from `https://<team>.cloudflareaccess.com/cdn-cgi/access/certs`.
 *
 * The Worker refetches the key set at most once per 30 s (measured from the start of its last fetch, the
 * first fetch always allowed). So that no test waits for that floor, the Worker's first fetch is the one
 * that meets the rotation: the team domain has moved to a new key before any Access token reaches the
 * Worker; every later check runs on that one fetch, and proves that refused kids do not add fetches. The
 * end of the rotation (the previous key dropped) is seen by a new isolate, after workerd restarts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { devTokenSecretOf, signDevToken } from "../../local/dev-token";
import { type LocalTarget, startLocalTarget } from "../../local/target/runner";
import { b64url, newKey, sign, type TestKey } from "../../workers-src/builds/client/access-testing";
import { type CallOptions, client } from "./http";

const REPO = path.resolve(__dirname, "../..");
const PROJECT = "workers-platform";
const CERTS_PATH = "/cdn-cgi/access/certs";
const AUDIENCE = "e2eaccessaudience0123456789abcdef";
const ACCOUNT = "access-e2e-acct";
const OTHER = "access-e2e-other";
const ACCESS_HEADER = "Cf-Access-Jwt-Assertion";

/**
 * A team domain's key server: `GET /cdn-cgi/access/certs` answers the published keys as Cloudflare does
 * (`keys` in JWK form, newest first, and `public_cert`/`public_certs` beside them, which the Worker does
 * not read: here they hold the public key's PEM instead of an X.509 certificate). Counts its fetches.
 */
class KeyServer {
  published: TestKey[] = [];
  fetches = 0;
  /** When the first fetch came (ms since the epoch). */
  firstFetchAt: number | undefined;
  /** Requests for anything but the key set. */
  strays: string[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      if (req.method !== "GET" || req.url !== CERTS_PATH) {
        this.strays.push(`${req.method} ${req.url}`);
        res.writeHead(404).end();
        return;
      }
      this.fetches++;
      this.firstFetchAt ??= Date.now();
      const certs = this.published.map((key) => ({ kid: key.kid, cert: pem(key.spki) }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          keys: this.published.map((key) => ({
            kid: key.kid,
            kty: "RSA",
            alg: "RS256",
            use: "sig",
            e: key.publicJwk.e,
            n: key.publicJwk.n,
          })),
          public_cert: certs[0],
          public_certs: certs,
        }),
      );
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /**
   * The most fetches the Worker's refetch floor (one per 30 s) allows since the first, in one isolate:
   * 1 while the tests run within 30 s of it, as they do unless the machine is very slow.
   */
  bound(): number {
    if (this.firstFetchAt === undefined) return 0;
    return 1 + Math.floor((Date.now() - this.firstFetchAt) / 30_000);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function pem(spki: ArrayBuffer): string {
  const body = Buffer.from(spki).toString("base64");
  return `-----BEGIN PUBLIC KEY-----\n${body.replace(/(.{64})/g, "$1\n")}\n-----END PUBLIC KEY-----\n`;
}

interface AccessPlatform {
  target: LocalTarget;
  api: string;
  devToken(account: string): string;
  stop(): Promise<void>;
}

/**
 * The builds platform on the local target with the top-level `access` key set. (`startBuildsPlatform`
 * merges its changes into the `builds` key only, and `access` is a key of its own.)
 */
async function startWithAccess(access: Record<string, unknown>): Promise<AccessPlatform> {
  const dir = mkdtempSync(path.join(tmpdir(), "builds-access-"));
  chmodSync(dir, 0o755); // as root, PostgreSQL runs as its own user and must reach its data folder
  const stack = yaml.load(readFileSync(path.join(REPO, "stacks", "Pulumi.local.yaml"), "utf8")) as {
    config: Record<string, unknown>;
  };
  stack.config[`${PROJECT}:access`] = access;
  const configFile = path.join(dir, "Pulumi.local.yaml");
  writeFileSync(configFile, yaml.dump(stack));
  const target = await startLocalTarget({ stateDir: path.join(dir, "state"), configFile, log: () => {} });
  const stop = async () => {
    await target.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await target.runnersReady;
    const secret = devTokenSecretOf(target.plan.services);
    if (!secret) throw new Error("the local stack declares no development tokens");
    const api = Object.entries(target.workers).find(([name]) => name.endsWith("-builds-client"))?.[1];
    if (!api) throw new Error("the local stack has no Client Worker");
    return { target, api, devToken: (account) => signDevToken(secret, account), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Polls `probe` until `done` holds, or fails with the last value at the deadline. */
async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const keys = new KeyServer();
let teamDomain = "";
let platform: AccessPlatform | undefined;
let http: ReturnType<typeof client>;
/** The key Access signed with before the rotation, the key after it, and a key Access never published. */
let previous: TestKey;
let current: TestKey;
let foreign: TestKey;
let serial = 0;

function p(): AccessPlatform {
  if (!platform) throw new Error("the platform has not started");
  return platform;
}

/** An Access application token as Access signs it: `key`, the team domain, the audience, an account. */
function accessToken(
  key: TestKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
) {
  const seconds = Math.floor(Date.now() / 1000);
  return sign(
    key,
    {
      aud: [AUDIENCE],
      iss: teamDomain,
      sub: "0b7c2f0e-6f1d-4a8e-9a51-3c2d7e1f9b40",
      email: "builder@example.com",
      iat: seconds,
      nbf: seconds,
      exp: seconds + 600,
      type: "app",
      custom: { account: ACCOUNT },
      ...claims,
    },
    header,
  );
}

// biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field and assert their shape
const call = <T = any>(method: string, route: string, options?: CallOptions) =>
  http.call<T>(method, route, options);
const withAccess = (token: string, options: CallOptions = {}): CallOptions => ({
  ...options,
  headers: { ...options.headers, [ACCESS_HEADER]: token },
});
const firstError = (answer: { json: { errors: { message: string }[] } }) =>
  answer.json.errors[0]?.message ?? "";

beforeAll(async () => {
  [previous, current, foreign] = await Promise.all([
    newKey("access-e2e-2026-10"),
    newKey("access-e2e-2026-11"),
    newKey("access-e2e-foreign"),
  ]);
  keys.published = [previous];
  teamDomain = await keys.listen();
  platform = await startWithAccess({ teamDomain, audience: AUDIENCE, accountClaim: "custom.account" });
  http = client(platform.api);
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  await keys.close();
}, 60_000);

describe("Cloudflare Access against a local key server", { timeout: 120_000 }, () => {
  it("a bearer development token works beside Access, and nothing is fetched before an Access token comes", async () => {
    const bearer = await call("GET", "/api/workers", { token: p().devToken(ACCOUNT) });
    expect(bearer.status).toBe(200);
    expect(bearer.json.result).toEqual([]);
    const anonymous = await call("GET", "/api/workers");
    expect(anonymous.status).toBe(401);
    expect(firstError(anonymous)).toMatch(/sign in through Cloudflare Access, or send Authorization: Bearer/);
    expect(keys.fetches).toBe(0);
  });

  it("after a rotation, the Worker's first fetch takes the new key; the previous one, still published, is accepted too", async () => {
    // Access rotates: the new key first, the previous one kept for the tokens it signed.
    keys.published = [current, previous];
    const fresh = await call("GET", "/api/workers", withAccess(await accessToken(current)));
    expect(fresh.status).toBe(200);
    expect(keys.fetches).toBe(1);
    const older = await call("GET", "/api/workers", withAccess(await accessToken(previous)));
    expect(older.status).toBe(200);
    expect(keys.fetches).toBe(1);
    expect(keys.strays).toEqual([]);
  });

  it("acts as the account of the token's claim: another account's token does not see its Worker", async () => {
    const name = `access-site-${++serial}`;
    const created = await call(
      "POST",
      "/api/workers",
      withAccess(await accessToken(current), { body: { name } }),
    );
    expect(created.status).toBe(201);
    expect(created.json.result).toMatchObject({ name });

    const mine = await call("GET", `/api/workers/${name}`, withAccess(await accessToken(current)));
    expect(mine.status).toBe(200);
    expect(mine.json.result).toEqual(created.json.result);
    // The same account through a bearer token.
    const bearer = await call("GET", `/api/workers/${name}`, { token: p().devToken(ACCOUNT) });
    expect(bearer.status).toBe(200);

    const other = await accessToken(current, { custom: { account: OTHER } });
    const theirs = await call("GET", `/api/workers/${name}`, withAccess(other));
    expect(theirs.status).toBe(404);
    const list = await call("GET", "/api/workers", withAccess(other));
    expect(list.status).toBe(200);
    expect(list.json.result).toEqual([]);
    expect(keys.fetches).toBeLessThanOrEqual(keys.bound());
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    [
      "a wrong audience",
      () => accessToken(current, { aud: ["someoneelsesapplication0123"] }),
      /^Cloudflare Access token refused \(audience\): token audience does not include the expected e2eaccessaudience/,
    ],
    [
      "an expired token",
      () => accessToken(current, { iat: 1_700_000_000, nbf: 1_700_000_000, exp: 1_700_000_600 }),
      /^Cloudflare Access token refused \(expired\): token expired$/,
    ],
    [
      "another issuer",
      () => accessToken(current, { iss: "https://team.cloudflareaccess.com" }),
      /^Cloudflare Access token refused \(issuer\)/,
    ],
    [
      "no account claim",
      () => accessToken(current, { custom: {} }),
      /^Cloudflare Access token refused \(account\): token has no custom\.account claim$/,
    ],
    [
      "a key the team domain does not publish",
      () => accessToken(foreign),
      /^Cloudflare Access token refused \(unknown_kid\): token signed with key "access-e2e-foreign", which http:\/\/127\.0\.0\.1:\d+\/cdn-cgi\/access\/certs does not publish$/,
    ],
    [
      "a key not published, under the kid of one that is",
      () => accessToken(foreign, {}, { kid: current.kid }),
      /^Cloudflare Access token refused \(signature\): token signature does not verify$/,
    ],
  ])("refuses %s: 401 that says why, no fetch of the keys", async (_case, token, message) => {
    const before = (await call("GET", "/api/workers", { token: p().devToken(ACCOUNT) })).json.result;
    const refused = await call(
      "POST",
      "/api/workers",
      withAccess(await token(), { body: { name: "refused" } }),
    );
    expect(refused.status).toBe(401);
    expect(firstError(refused)).toMatch(message);
    expect((await call("GET", "/api/workers", { token: p().devToken(ACCOUNT) })).json.result).toEqual(before);
    expect(keys.fetches).toBeLessThanOrEqual(keys.bound());
  });

  it("a flood of unknown kids is refused without a fetch of the key set each", async () => {
    const tokens = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        accessToken(
          foreign,
          {},
          { kid: `made-up-${i}-${b64url(crypto.getRandomValues(new Uint8Array(6)))}` },
        ),
      ),
    );
    const answers = await Promise.all(tokens.map((token) => call("GET", "/api/workers", withAccess(token))));
    expect(answers.map((a) => a.status)).toEqual(tokens.map(() => 401));
    for (const answer of answers) expect(firstError(answer)).toMatch(/\(unknown_kid\)/);
    // The one fetch of the rotation serves every request of the isolate since.
    expect(keys.fetches).toBeLessThanOrEqual(keys.bound());
    expect((await call("GET", "/api/workers", withAccess(await accessToken(current)))).status).toBe(200);
    expect(keys.fetches).toBeLessThanOrEqual(keys.bound());
  });

  it("once the previous key is dropped, a new isolate fetches the keys again and refuses it", async () => {
    keys.published = [current];
    const before = keys.fetches;
    await p().target.restartWorkerd();
    const accepted = await until(
      async () => (await call("GET", "/api/workers", withAccess(await accessToken(current)))).status,
      (status) => status === 200,
    );
    expect(accepted).toBe(200);
    expect(keys.fetches).toBe(before + 1);
    const dropped = await call("GET", "/api/workers", withAccess(await accessToken(previous)));
    expect(dropped.status).toBe(401);
    expect(firstError(dropped)).toMatch(/\(unknown_kid\): token signed with key "access-e2e-2026-10"/);
    expect(keys.fetches).toBe(before + 1);
    expect(keys.strays).toEqual([]);
  });
});
