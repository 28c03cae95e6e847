/**
 * A build's network: a network namespace of its own, connected to the outside by slirp4netns (user-space
 * NAT). Outbound connections (git, package registries) work; the host's loopback, where the runner's API
 * and the local target's services listen, is not reachable (`--disable-host-loopback`). slirp4netns runs
 * as a uid of its own, and an nftables table refuses that uid's connections to the host's own addresses,
 * link-local addresses (cloud metadata) and private networks, but for DNS to the host's resolvers.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { findProgram, run, SYSTEM_PATH } from "./host-tools";

/** What slirp4netns keeps of root's powers: joining the namespace, making its tap device, opening /dev/net/tun. */
const SLIRP_CAPS = "+sys_admin,+net_admin,+dac_override";

/** Addresses no build reaches, besides the host's own and what the runner is told to allow. */
export const BLOCKED_V4 = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "224.0.0.0/4",
];
export const BLOCKED_V6 = ["::1/128", "fc00::/7", "fe80::/10", "ff00::/8"];

export interface NetworkPolicy {
  /** The uid slirp4netns runs as; the rules match its connections. */
  slirpUid: number;
  /** The host's own addresses. */
  hostAddresses: string[];
  /** The resolvers slirp4netns forwards DNS to (from /etc/resolv.conf): port 53 stays open to them. */
  dnsServers: string[];
  /** Networks builds may reach although they are private (a registry on the company network). */
  allowed: string[];
}

/** The nftables script of the policy: one table of its own, replaced as a whole. Pure. */
export function networkPolicyScript(policy: NetworkPolicy): string {
  const table = `workers_builds_${policy.slirpUid}`;
  const uid = `meta skuid ${policy.slirpUid}`;
  const v4 = (xs: string[]) => xs.filter((x) => !x.includes(":"));
  const v6 = (xs: string[]) => xs.filter((x) => x.includes(":"));
  const set = (xs: string[]) => `{ ${xs.join(", ")} }`;
  const lines = [
    `table inet ${table} {`,
    "  chain output {",
    "    type filter hook output priority 0; policy accept;",
  ];
  for (const [family, dns] of [
    ["ip", v4(policy.dnsServers)],
    ["ip6", v6(policy.dnsServers)],
  ] as const) {
    if (dns.length > 0) {
      lines.push(`    ${uid} ${family} daddr ${set(dns)} udp dport 53 accept`);
      lines.push(`    ${uid} ${family} daddr ${set(dns)} tcp dport 53 accept`);
    }
  }
  for (const [family, allowed] of [
    ["ip", v4(policy.allowed)],
    ["ip6", v6(policy.allowed)],
  ] as const) {
    if (allowed.length > 0) lines.push(`    ${uid} ${family} daddr ${set(allowed)} accept`);
  }
  lines.push(`    ${uid} ip daddr ${set([...BLOCKED_V4, ...v4(policy.hostAddresses)])} reject`);
  lines.push(`    ${uid} ip6 daddr ${set([...BLOCKED_V6, ...v6(policy.hostAddresses)])} reject`);
  lines.push("  }", "}");
  // Deleting first (after making sure it exists) replaces an older version of the table as a whole.
  return [`table inet ${table}`, `delete table inet ${table}`, ...lines, ""].join("\n");
}

/** The host's addresses, and the resolvers of /etc/resolv.conf. */
export function hostNetwork(resolvConf: string): { hostAddresses: string[]; dnsServers: string[] } {
  const hostAddresses = Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => a !== undefined && !a.internal)
    .map((a) => a.address.split("%")[0] as string);
  const dnsServers = [...resolvConf.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1] as string);
  return { hostAddresses, dnsServers };
}

/** Removes the policy's nftables table (the runner is stopping). */
export async function removeNetworkPolicy(slirpUid: number): Promise<void> {
  await run("nft", ["delete", "table", "inet", `workers_builds_${slirpUid}`]).catch(() => undefined);
}

/** The same, synchronously: for a runner's last moment (`process.on("exit")`). */
export function removeNetworkPolicySync(slirpUid: number): void {
  try {
    execFileSync(findProgram("nft") ?? "nft", ["delete", "table", "inet", `workers_builds_${slirpUid}`], {
      stdio: "ignore",
      timeout: 5000,
    });
  } catch {
    // gone already
  }
}

/** Installs (or replaces) the policy's nftables table. */
export async function installNetworkPolicy(policy: NetworkPolicy, scratchDir: string): Promise<void> {
  const file = path.join(scratchDir, `nftables-${policy.slirpUid}.nft`);
  writeFileSync(file, networkPolicyScript(policy), { mode: 0o600 });
  await run("nft", ["-f", file]);
}

/** The address slirp4netns answers DNS on, inside the namespace. */
export const SANDBOX_DNS = "10.0.2.3";
const NETNS_DIR = "/run/netns";
/** A build whose network is not up by then fails to start rather than hold its slot. */
const READY_TIMEOUT_MS = 30_000;

export function netnsName(buildUuid: string): string {
  return `wb-${buildUuid.replace(/-/g, "").slice(0, 12)}`;
}

export class BuildNetwork {
  private constructor(
    readonly name: string,
    private readonly slirp: ChildProcess,
  ) {}

  /** The namespace's path, for `nsenter --net=`. */
  get path(): string {
    return `${NETNS_DIR}/${this.name}`;
  }

  static async create(name: string, slirpUid: number): Promise<BuildNetwork> {
    await run("ip", ["netns", "add", name]);
    const slirp4netns = findProgram("slirp4netns") ?? "slirp4netns";
    const slirp = spawn(
      findProgram("setpriv") ?? "setpriv",
      [
        `--reuid=${slirpUid}`,
        `--regid=${slirpUid}`,
        "--clear-groups",
        `--inh-caps=${SLIRP_CAPS}`,
        `--ambient-caps=${SLIRP_CAPS}`,
        "--",
        slirp4netns,
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        // It parses the build's packets: system calls it never needs are refused. (Its --enable-sandbox
        // would unmount the namespace's file under /run/netns for everyone, so it is not used.)
        "--enable-seccomp",
        "--netns-type=path",
        "--ready-fd=3",
        "--exit-fd=4",
        `${NETNS_DIR}/${name}`,
        "tap0",
      ],
      { env: { PATH: SYSTEM_PATH }, stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
    );
    let stderr = "";
    slirp.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            fail(
              new Error(`slirp4netns was not ready within ${READY_TIMEOUT_MS / 1000} s: ${stderr.trim()}`),
            ),
          READY_TIMEOUT_MS,
        );
        const fail = (error: Error) => {
          clearTimeout(timer);
          reject(error);
        };
        (slirp.stdio[3] as Readable).once("data", () => {
          clearTimeout(timer);
          resolve();
        });
        slirp.once("error", fail);
        slirp.once("exit", (code) => fail(new Error(`slirp4netns exited (${code}): ${stderr.trim()}`)));
      });
    } catch (error) {
      slirp.kill("SIGKILL");
      await run("ip", ["netns", "delete", name]).catch(() => undefined);
      throw error;
    }
    (slirp.stdio[3] as Readable).destroy();
    return new BuildNetwork(name, slirp);
  }

  /** Stops slirp4netns (closing its exit descriptor) and deletes the namespace. */
  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.slirp.exitCode !== null || this.slirp.signalCode !== null) return resolve();
      this.slirp.once("exit", () => resolve());
      setTimeout(() => this.slirp.kill("SIGKILL"), 2000).unref();
    });
    (this.slirp.stdio[4] as Writable).destroy();
    await exited;
    await removeNetns(this.name);
  }
}

export async function removeNetns(name: string): Promise<void> {
  await run("ip", ["netns", "delete", name]).catch((error: Error) => {
    if (!/No such file|Cannot remove namespace file/.test(error.message)) throw error;
  });
}
