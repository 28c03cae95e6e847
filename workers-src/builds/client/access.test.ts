import { beforeAll, describe, expect, it } from "vitest";
import {
  type AccessConfig,
  AccessConfigError,
  AccessError,
  type AccessErrorReason,
  type AccessFetcher,
  type AccessKeys,
  createAccessKeys,
  validateAccessConfig,
  verifyAccessJwt,
} from "./access";
import { b64json, b64url, newKey, sign as signWith, type TestKey } from "./access-testing";

const TEAM = "https://builds-team.cloudflareaccess.com";
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
const CONFIG: AccessConfig = { teamDomain: TEAM, audience: AUD, accountClaim: "custom.account" };
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const SECONDS = Math.floor(T0 / 1000);

/** The claims of an Access application token for a user, valid at {@link T0}. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: [AUD],
    email: "dev@example.com",
    exp: SECONDS + 300,
    iat: SECONDS,
    nbf: SECONDS,
    iss: TEAM,
    type: "app",
    identity_nonce: "6ei69kawdKzMIAPF",
    sub: "7335d417-61da-459d-899c-0a01c76a2f94",
    country: "US",
    custom: { account: "acct_1" },
    ...overrides,
  };
}

const sign = (
  key: TestKey,
  payload: Record<string, unknown> = claims(),
  header: Record<string, unknown> = {},
) => signWith(key, payload, header);

/** A stand-in for the team domain's key server: publishes `keys`, counts its calls, can fail or hold. */
class KeyServer {
  published: TestKey[] = [];
  extra: Record<string, unknown>[] = [];
  calls = 0;
  fail: "network" | "status" | "garbage" | undefined;
  cacheControl: string | undefined;
  /** While set, answers wait for it. */
  gate: Promise<void> | undefined;
  urls: string[] = [];

  constructor(...keys: TestKey[]) {
    this.published = keys;
  }

  fetcher: AccessFetcher = async (url) => {
    this.calls++;
    this.urls.push(url);
    if (this.gate !== undefined) await this.gate;
    if (this.fail === "network") throw new TypeError("network connection lost");
    if (this.fail === "status") return new Response("upstream unavailable", { status: 503 });
    if (this.fail === "garbage") return new Response("<html>", { status: 200 });
    const keys = [
      ...this.published.map((k) => ({
        ...k.publicJwk,
        kid: k.kid,
        alg: "RS256",
        use: "sig",
        key_ops: undefined,
      })),
      ...this.extra,
    ];
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.cacheControl !== undefined) headers["cache-control"] = this.cacheControl;
    return new Response(
      JSON.stringify({
        keys,
        public_cert: { kid: this.published[0]?.kid ?? "", cert: "-----BEGIN CERTIFICATE-----..." },
        public_certs: this.published.map((k) => ({ kid: k.kid, cert: "-----BEGIN CERTIFICATE-----..." })),
      }),
      { headers },
    );
  };
}

class Clock {
  constructor(public ms = T0) {}
  now = () => this.ms;
  advance(seconds: number) {
    this.ms += seconds * 1000;
  }
}

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AccessError);
    return err as AccessError;
  }
  throw new Error("the token was accepted");
}

let keyA: TestKey;
let keyB: TestKey;
let keyC: TestKey;

beforeAll(async () => {
  [keyA, keyB, keyC] = await Promise.all([newKey("kid-a"), newKey("kid-b"), newKey("kid-c")]);
});

function setup(config: AccessConfig = CONFIG, ...published: TestKey[]) {
  const server = new KeyServer(...(published.length > 0 ? published : [keyA]));
  const clock = new Clock();
  const keys = createAccessKeys(config, server.fetcher, clock.now);
  const verify = (token: string, cfg: AccessConfig = config) => verifyAccessJwt(token, cfg, keys, clock.ms);
  return { server, clock, keys, verify };
}

describe("validateAccessConfig", () => {
  it("answers a good configuration normalized", () => {
    expect(validateAccessConfig({ ...CONFIG, teamDomain: `${TEAM}/` })).toEqual(CONFIG);
    const groups = { ...CONFIG, accountClaim: "groups", accountGroups: { builders: "acct_1" } };
    expect(validateAccessConfig(groups)).toEqual(groups);
  });

  it.each<[string, Partial<AccessConfig>, RegExp]>([
    ["an empty team domain", { teamDomain: "" }, /teamDomain is empty/],
    ["an http team domain", { teamDomain: "http://builds-team.cloudflareaccess.com" }, /https URL, not http/],
    ["a team domain that is no URL", { teamDomain: "builds-team" }, /is not a URL/],
    ["a team domain with a path", { teamDomain: `${TEAM}/cdn-cgi/access/certs` }, /origin alone/],
    [
      "a team domain with credentials",
      { teamDomain: "https://u:p@builds-team.cloudflareaccess.com" },
      /origin/,
    ],
    ["an empty audience", { audience: "" }, /audience is empty/],
    ["a blank audience", { audience: "   " }, /audience is empty/],
    ["an audience with whitespace", { audience: ` ${AUD}` }, /whitespace/],
    ["an empty account claim", { accountClaim: "" }, /accountClaim is empty/],
    ["a claim path with an empty segment", { accountClaim: "custom..account" }, /not a claim path/],
    ["a claim path with a bracket", { accountClaim: "custom[0]" }, /not a claim path/],
    ["groups without a map", { accountClaim: "groups" }, /needs accountGroups/],
    ["an empty group map", { accountClaim: "groups", accountGroups: {} }, /accountGroups is empty/],
    [
      "a group mapped to no account id",
      { accountClaim: "groups", accountGroups: { builders: "acct/1" } },
      /accountGroups\["builders"\] is not an account id/,
    ],
  ])("refuses %s", (_, patch, message) => {
    expect(() => validateAccessConfig({ ...CONFIG, ...patch })).toThrow(AccessConfigError);
    expect(() => validateAccessConfig({ ...CONFIG, ...patch })).toThrow(message);
  });

  it("names every problem at once", () => {
    expect(() => validateAccessConfig({ teamDomain: "http://x", audience: "", accountClaim: "" })).toThrow(
      /https URL.*audience is empty.*accountClaim is empty/,
    );
  });

  it("is applied by createAccessKeys", () => {
    expect(() => createAccessKeys({ ...CONFIG, teamDomain: "http://x" }, new KeyServer().fetcher)).toThrow(
      AccessConfigError,
    );
  });
});

describe("verifyAccessJwt", () => {
  it("answers the account, email and subject of a valid token, fetching the keys once", async () => {
    const { server, verify } = setup();
    const token = await sign(keyA);
    expect(await verify(token)).toEqual({
      accountId: "acct_1",
      email: "dev@example.com",
      subject: "7335d417-61da-459d-899c-0a01c76a2f94",
    });
    expect(await verify(token)).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(1);
    expect(server.urls).toEqual([`${TEAM}/cdn-cgi/access/certs`]);
  });

  it("answers a service token's common_name as its subject", async () => {
    const { verify } = setup();
    const token = await sign(keyA, claims({ sub: "", email: undefined, common_name: "svc.access" }));
    expect(await verify(token)).toEqual({ accountId: "acct_1", subject: "svc.access" });
  });

  it("accepts aud as a single string and an audience among several", async () => {
    const { verify } = setup();
    expect(await verify(await sign(keyA, claims({ aud: AUD })))).toMatchObject({ accountId: "acct_1" });
    expect(await verify(await sign(keyA, claims({ aud: ["other", AUD] })))).toMatchObject({
      accountId: "acct_1",
    });
  });

  it.each<[string, number, boolean]>([
    ["exp in the future", 300, true],
    ["exp just passed, within the skew", -59, true],
    ["exp passed by exactly the skew", -60, false],
    ["exp passed beyond the skew", -3600, false],
  ])("clock skew on exp: %s", async (_, expIn, accepted) => {
    const { verify } = setup();
    const token = await sign(
      keyA,
      claims({ exp: SECONDS + expIn, iat: SECONDS - 7200, nbf: SECONDS - 7200 }),
    );
    if (accepted) expect(await verify(token)).toMatchObject({ accountId: "acct_1" });
    else expect((await refusal(verify(token))).reason).toBe("expired");
  });

  it.each<[string, Record<string, unknown>, boolean]>([
    ["nbf within the skew", { nbf: SECONDS + 60 }, true],
    ["nbf beyond the skew", { nbf: SECONDS + 61 }, false],
    ["iat within the skew", { iat: SECONDS + 60 }, true],
    ["iat beyond the skew", { iat: SECONDS + 61 }, false],
  ])("clock skew on nbf and iat: %s", async (_, patch, accepted) => {
    const { verify } = setup();
    const token = await sign(keyA, claims(patch));
    if (accepted) expect(await verify(token)).toMatchObject({ accountId: "acct_1" });
    else expect(await refusal(verify(token))).toMatchObject({ reason: "not_yet_valid" });
  });

  const hs256WithPublicKey = async () => {
    const input = `${b64json({ alg: "HS256", kid: keyA.kid, typ: "JWT" })}.${b64json(claims())}`;
    const secret = await crypto.subtle.importKey("raw", keyA.spki, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = await crypto.subtle.sign("HMAC", secret, new TextEncoder().encode(input));
    return `${input}.${b64url(mac)}`;
  };

  const tampered = async () => {
    const [h, , s] = (await sign(keyA)).split(".");
    return `${h}.${b64json(claims({ custom: { account: "acct_victim" } }))}.${s}`;
  };

  it.each<[string, () => Promise<string>, AccessErrorReason, RegExp]>([
    [
      "a wrong audience",
      () => sign(keyA, claims({ aud: ["another-app"] })),
      "audience",
      new RegExp(`does not include the expected ${AUD}`),
    ],
    ["no aud", () => sign(keyA, claims({ aud: undefined })), "audience", /audience/],
    [
      "a wrong issuer",
      () => sign(keyA, claims({ iss: "https://evil.cloudflareaccess.com" })),
      "issuer",
      /not the team domain https:\/\/builds-team/,
    ],
    ["an issuer with a trailing slash", () => sign(keyA, claims({ iss: `${TEAM}/` })), "issuer", /issuer/],
    ["no exp", () => sign(keyA, claims({ exp: undefined })), "malformed", /no exp claim/],
    [
      "an exp that is no number",
      () => sign(keyA, claims({ exp: "soon" })),
      "malformed",
      /exp is not a number/,
    ],
    [
      "alg none",
      async () => `${b64json({ alg: "none", typ: "JWT" })}.${b64json(claims())}.`,
      "malformed",
      /empty or not base64url/,
    ],
    [
      "alg none with a signature part",
      async () => `${b64json({ alg: "none", kid: keyA.kid })}.${b64json(claims())}.AAAA`,
      "algorithm",
      /alg is "none": only RS256/,
    ],
    ["HS256 keyed with the public key", hs256WithPublicKey, "algorithm", /alg is "HS256": only RS256/],
    ["RS512", () => sign(keyA, claims(), { alg: "RS512" }), "algorithm", /only RS256/],
    ["no alg", () => sign(keyA, claims(), { alg: undefined }), "algorithm", /alg is missing/],
    ["no kid", () => sign(keyA, claims(), { kid: undefined }), "malformed", /no kid/],
    ["a crit header", () => sign(keyA, claims(), { crit: ["exp"] }), "malformed", /critical/],
    ["a tampered payload", tampered, "signature", /signature does not verify/],
    [
      "a signature by another key under a published kid",
      () => sign({ ...keyB, kid: keyA.kid }),
      "signature",
      /signature/,
    ],
    ["two parts", async () => "abc.def", "malformed", /three base64url parts/],
    ["garbage", async () => "a.b.c", "malformed", /header is not base64url JSON/],
    ["an empty token", async () => "", "malformed", /empty/],
    [
      "a header that is an array",
      async () => `${b64json([1])}.${b64json({})}.AAAA`,
      "malformed",
      /not a JSON object/,
    ],
    [
      "an oversized token",
      async () => `${"A".repeat(70_000)}.${b64json({})}.AAAA`,
      "malformed",
      /longer than/,
    ],
    ["neither sub nor common_name", () => sign(keyA, claims({ sub: "" })), "subject", /neither sub/],
    ["a sub that is no string", () => sign(keyA, claims({ sub: 7 })), "malformed", /sub is not a string/],
    ["no account claim", () => sign(keyA, claims({ custom: {} })), "account", /no custom\.account claim/],
    ["no custom claims", () => sign(keyA, claims({ custom: undefined })), "account", /no custom\.account/],
    [
      "an account claim that is no account id",
      () => sign(keyA, claims({ custom: { account: "acct/../2" } })),
      "account",
      /custom\.account claim is not an account id/,
    ],
    [
      "an account claim too long",
      () => sign(keyA, claims({ custom: { account: "a".repeat(65) } })),
      "account",
      /not an account id/,
    ],
    [
      "an account claim that is a number",
      () => sign(keyA, claims({ custom: { account: 12 } })),
      "account",
      /not an account id/,
    ],
  ])("refuses %s", async (_, make, reason, message) => {
    const { verify } = setup();
    const err = await refusal(verify(await make()));
    expect(err.reason).toBe(reason);
    expect(err.message).toMatch(message);
  });

  it("refuses a token before fetching keys when its alg is not RS256", async () => {
    const { server, verify } = setup();
    await refusal(verify(await hs256WithPublicKey()));
    expect(server.calls).toBe(0);
  });

  it("refuses keys of another team domain", async () => {
    const { keys } = setup();
    await expect(
      verifyAccessJwt(
        await sign(keyA),
        { ...CONFIG, teamDomain: "https://other.cloudflareaccess.com" },
        keys,
        T0,
      ),
    ).rejects.toThrow(AccessConfigError);
  });
});

describe("the account of a token", () => {
  it.each<[string, Partial<AccessConfig>, Record<string, unknown>, string | RegExp]>([
    ["from custom.account", {}, { custom: { account: "acct_7" } }, "acct_7"],
    ["from a top-level claim", { accountClaim: "account" }, { account: "acct-8" }, "acct-8"],
    ["from email when it is an account id", { accountClaim: "email" }, { email: "acct_9" }, "acct_9"],
    [
      "refused from email when it is an address",
      { accountClaim: "email" },
      { email: "dev@example.com" },
      /email claim is not an account id/,
    ],
    [
      "from groups, names",
      { accountClaim: "groups", accountGroups: { builders: "acct_b", admins: "acct_a" } },
      { groups: ["readers", "builders"] },
      "acct_b",
    ],
    [
      "from groups, the map's first matching entry when several match",
      { accountClaim: "groups", accountGroups: { builders: "acct_b", admins: "acct_a" } },
      { groups: ["admins", "builders"] },
      "acct_b",
    ],
    [
      "from groups, objects with name or id",
      { accountClaim: "groups", accountGroups: { "00gk2": "acct_o", "ops team": "acct_t" } },
      { groups: [{ id: "x1", name: "ops team", email: "ops@example.com" }] },
      "acct_t",
    ],
    [
      "from groups under custom claims",
      { accountClaim: "custom.groups", accountGroups: { builders: "acct_c" } },
      { custom: { groups: ["builders"] } },
      "acct_c",
    ],
    [
      "refused when no group matches",
      { accountClaim: "groups", accountGroups: { builders: "acct_b" } },
      { groups: ["readers"] },
      /include no group mapped to an account/,
    ],
    [
      "refused when the token has no groups",
      { accountClaim: "groups", accountGroups: { builders: "acct_b" } },
      {},
      /no groups claim listing groups/,
    ],
  ])("%s", async (_, patch, payload, expected) => {
    const config = { ...CONFIG, ...patch };
    const { verify } = setup(config);
    const token = await sign(keyA, claims(payload));
    if (typeof expected === "string") {
      expect((await verify(token)).accountId).toBe(expected);
    } else {
      const err = await refusal(verify(token));
      expect(err.reason).toBe("account");
      expect(err.message).toMatch(expected);
    }
  });
});

describe("createAccessKeys", () => {
  it("refetches once for an unknown kid, then refuses it", async () => {
    const { server, clock, verify } = setup();
    await verify(await sign(keyA));
    // A kid unknown right after a fetch is not worth another one.
    expect((await refusal(verify(await sign(keyB)))).reason).toBe("unknown_kid");
    expect(server.calls).toBe(1);
    clock.advance(30);
    const err = await refusal(verify(await sign(keyB)));
    expect(err.reason).toBe("unknown_kid");
    expect(err.message).toBe(
      `token signed with key "kid-b", which ${TEAM}/cdn-cgi/access/certs does not publish`,
    );
    expect(server.calls).toBe(2);
    await refusal(verify(await sign(keyB)));
    expect(server.calls).toBe(2);
  });

  it("picks up a rotated key after exactly one refetch, and keeps accepting the previous key", async () => {
    const { server, clock, verify } = setup();
    const old = await sign(keyA);
    expect(await verify(old)).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(1);
    clock.advance(600);
    // Access rotates: the new key signs, the previous one stays published.
    server.published = [keyB, keyA];
    const rotated = await sign(keyB, claims({ iat: SECONDS + 600, nbf: SECONDS + 600, exp: SECONDS + 900 }));
    expect(await verify(rotated)).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(2);
    expect(await verify(await sign(keyA, claims({ exp: SECONDS + 900 })))).toMatchObject({
      accountId: "acct_1",
    });
    expect(await verify(rotated)).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(2);
    // A week on the previous key is gone from the key server; once the cache is stale it is refused.
    server.published = [keyB];
    clock.advance(3600);
    const late = { iat: clock.ms / 1000, nbf: clock.ms / 1000, exp: clock.ms / 1000 + 300 };
    expect(await verify(await sign(keyB, claims(late)))).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(3);
    expect((await refusal(verify(await sign(keyA, claims(late))))).reason).toBe("unknown_kid");
    expect(server.calls).toBe(3);
  });

  it("lets a flood of unknown kids refetch at most once per interval", async () => {
    const { server, clock, verify } = setup();
    await verify(await sign(keyA));
    clock.advance(60);
    const bogus = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sign({ ...keyA, kid: `bogus-${i}` })),
    );
    const reasons = await Promise.all(bogus.map(async (t) => (await refusal(verify(t))).reason));
    expect(new Set(reasons)).toEqual(new Set(["unknown_kid"]));
    expect(server.calls).toBe(2);
    for (const t of bogus) await refusal(verify(t));
    expect(server.calls).toBe(2);
    clock.advance(29);
    await refusal(verify(bogus[0]!));
    expect(server.calls).toBe(2);
    clock.advance(1);
    await refusal(verify(bogus[1]!));
    expect(server.calls).toBe(3);
    await refusal(verify(bogus[2]!));
    expect(server.calls).toBe(3);
  });

  it("shares one request among concurrent fetches", async () => {
    const { server, verify } = setup();
    let open!: () => void;
    server.gate = new Promise((resolve) => {
      open = resolve;
    });
    const token = await sign(keyA);
    const pending = Array.from({ length: 10 }, () => verify(token));
    await new Promise((resolve) => setTimeout(resolve, 10));
    open();
    const results = await Promise.all(pending);
    expect(results.every((r) => r.accountId === "acct_1")).toBe(true);
    expect(server.calls).toBe(1);
  });

  it.each(["network", "status", "garbage"] as const)(
    "keeps the old keys when a fetch fails (%s)",
    async (fail) => {
      const { server, clock, keys, verify } = setup();
      await verify(await sign(keyA));
      clock.advance(3601);
      server.fail = fail;
      const late = { iat: clock.ms / 1000, nbf: clock.ms / 1000, exp: clock.ms / 1000 + 300 };
      expect(await verify(await sign(keyA, claims(late)))).toMatchObject({ accountId: "acct_1" });
      expect(server.calls).toBe(2);
      expect(keys.lastError).toMatch(/certs/);
      expect((await refusal(verify(await sign(keyB, claims(late))))).reason).toBe("unknown_kid");
      expect(server.calls).toBe(2);
      server.fail = undefined;
      clock.advance(30);
      await verify(await sign(keyA, claims(late)));
      expect(server.calls).toBe(3);
      expect(keys.lastError).toBeUndefined();
    },
  );

  it("refuses tokens while no key set could be fetched, and retries after the interval", async () => {
    const { server, clock, verify } = setup();
    server.fail = "status";
    const token = await sign(keyA, claims({ exp: SECONDS + 3600 }));
    const err = await refusal(verify(token));
    expect(err.reason).toBe("keys_unavailable");
    expect(err.message).toMatch(/HTTP 503/);
    await refusal(verify(token));
    expect(server.calls).toBe(1);
    server.fail = undefined;
    clock.advance(30);
    expect(await verify(token)).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(2);
  });

  it.each<[string, string | undefined, number]>([
    ["1 h without Cache-Control", undefined, 3600],
    ["max-age when present", "public, max-age=120", 120],
    ["max-age capped at a day", "max-age=604800", 86400],
  ])("caches the key set for %s", async (_, cacheControl, ttl) => {
    const server = new KeyServer(keyA);
    server.cacheControl = cacheControl;
    const clock = new Clock();
    const keys = createAccessKeys(CONFIG, server.fetcher, clock.now);
    await keys.get(keyA.kid);
    clock.advance(ttl - 1);
    await keys.get(keyA.kid);
    expect(server.calls).toBe(1);
    clock.advance(1);
    await keys.get(keyA.kid);
    expect(server.calls).toBe(2);
  });

  it("imports only RS256 RSA signing keys", async () => {
    const server = new KeyServer(keyA);
    server.extra = [
      { ...keyB.publicJwk, kid: "rs512", alg: "RS512" },
      { ...keyB.publicJwk, kid: "enc", alg: "RS256", use: "enc" },
      { kty: "EC", kid: "ec", alg: "ES256", crv: "P-256", x: "AAAA", y: "AAAA" },
      { ...keyB.publicJwk, kid: "", alg: "RS256" },
      { kty: "RSA", kid: "short", alg: "RS256", n: "AQAB", e: "AQAB" },
    ];
    const keys: AccessKeys = createAccessKeys(CONFIG, server.fetcher, new Clock().now);
    expect(await keys.get(keyA.kid)).toBeDefined();
    for (const kid of ["rs512", "enc", "ec", "short"]) expect(await keys.get(kid)).toBeUndefined();
  });

  it("treats a key set with no usable key as a failed fetch", async () => {
    const server = new KeyServer();
    server.extra = [{ kty: "EC", kid: "ec", alg: "ES256" }];
    const keys = createAccessKeys(CONFIG, server.fetcher, new Clock().now);
    await expect(keys.get("ec")).rejects.toThrow(/no usable RS256 key/);
  });

  it("verifies with a key published by a third-party rotation order (current key last)", async () => {
    const { server, verify } = setup(CONFIG, keyC, keyA);
    expect(await verify(await sign(keyC))).toMatchObject({ accountId: "acct_1" });
    expect(await verify(await sign(keyA))).toMatchObject({ accountId: "acct_1" });
    expect(server.calls).toBe(1);
  });
});
