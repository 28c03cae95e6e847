/**
 * Where a Worker deployed through the stand-in may send requests: the internet, as on Cloudflare, and
 * nothing of this machine. Its `fetch()` goes through a Node handler that resolves the host name, refuses
 * loopback, private, link-local, carrier-grade NAT, multicast and reserved addresses and the host's own,
 * and then connects to the very address it checked (so a name that resolves differently a moment later
 * changes nothing). `connect()` sockets have no way out at all.
 */
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { Readable } from "node:stream";

/** IPv4 ranges no deployed Worker reaches (besides the host's own addresses). */
const BLOCKED_V4: [string, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

const v4Number = (address: string) => address.split(".").reduce((n, part) => n * 256 + Number(part), 0);

/**
 * Whether a deployed Worker may connect to `address` (an IP address): not loopback, private, link-local,
 * shared, multicast or reserved, and not one of `own` (the host's addresses). Pure.
 */
export function reachable(address: string, own: ReadonlySet<string>): boolean {
  const bare = address.split("%")[0]!.toLowerCase();
  if (own.has(bare)) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1];
  if (mapped) return reachable(mapped, own);
  if (isIP(bare) === 4) {
    const n = v4Number(bare);
    return !BLOCKED_V4.some(
      ([base, bits]) => Math.floor(n / 2 ** (32 - bits)) === Math.floor(v4Number(base) / 2 ** (32 - bits)),
    );
  }
  if (isIP(bare) !== 6) return false;
  if (bare === "::" || bare === "::1") return false;
  const first = Number.parseInt(bare.split(":")[0] || "0", 16);
  // fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast
  return !((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00);
}

/** The host's own addresses (every interface, loopback included). */
export function ownAddresses(): Set<string> {
  return new Set(
    Object.values(networkInterfaces())
      .flat()
      .filter((a): a is NonNullable<typeof a> => a !== undefined)
      .map((a) => a.address.split("%")[0]!.toLowerCase()),
  );
}

/** Cloudflare's answer to a Worker's subrequest to an address it may not reach. */
const refused = (why: string) =>
  new Response(`error code: 1003\n${why}\n`, { status: 403, headers: { "content-type": "text/plain" } });

/** The outbound handler of a deployed Worker (Miniflare's `outboundService`). */
export function deployedOutbound(own: ReadonlySet<string> = ownAddresses()) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.protocol !== "http:" && url.protocol !== "https:")
      return refused(`${url.protocol} is not http(s)`);
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    let address: string;
    try {
      const found = isIP(hostname) ? [{ address: hostname }] : await lookup(hostname, { all: true });
      const blocked = found.find((a) => !reachable(a.address, own));
      if (blocked || found.length === 0) {
        return refused(`${url.hostname} is an address of this machine or a private network`);
      }
      address = found[0]!.address;
    } catch (error) {
      return new Response(`could not resolve ${url.hostname}: ${(error as Error).message}\n`, {
        status: 502,
      });
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const bodyless = request.method === "GET" || request.method === "HEAD";
    const body = bodyless ? undefined : Buffer.from(await request.arrayBuffer());
    const client = url.protocol === "https:" ? https : http;
    return new Promise<Response>((resolve) => {
      const req = client.request(
        {
          host: hostname,
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: request.method,
          headers,
          // The checked address, not a second lookup.
          lookup: (_name, options, callback) => {
            const family = isIP(address);
            if ((options as { all?: boolean }).all) callback(null, [{ address, family }] as never);
            else callback(null, address, family);
          },
        },
        (res) => {
          const out = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          const status = res.statusCode ?? 502;
          const empty = request.method === "HEAD" || status === 204 || status === 304;
          if (empty) res.resume();
          resolve(
            new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
              status,
              headers: out,
            }),
          );
        },
      );
      req.once("error", (error) => resolve(new Response(`${error.message}\n`, { status: 502 })));
      req.end(body);
    });
  };
}
