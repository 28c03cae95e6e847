import { describe, expect, it } from "vitest";
import { hostNetwork, networkPolicyScript } from "./network";

describe("networkPolicyScript", () => {
  it("lets the network uid reach the resolvers on port 53 and allowed networks, and refuses the host, loopback, link-local and private ranges", () => {
    const script = networkPolicyScript({
      slirpUid: 200_000,
      hostAddresses: ["192.0.2.2", "fd00::2"],
      dnsServers: ["10.255.255.53"],
      allowed: ["10.20.0.0/16"],
    });
    expect(script).toBe(
      [
        "table inet workers_builds_200000",
        "delete table inet workers_builds_200000",
        "table inet workers_builds_200000 {",
        "  chain output {",
        "    type filter hook output priority 0; policy accept;",
        "    meta skuid 200000 ip daddr { 10.255.255.53 } udp dport 53 accept",
        "    meta skuid 200000 ip daddr { 10.255.255.53 } tcp dport 53 accept",
        "    meta skuid 200000 ip daddr { 10.20.0.0/16 } accept",
        "    meta skuid 200000 ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4, 192.0.2.2 } reject",
        "    meta skuid 200000 ip6 daddr { ::1/128, fc00::/7, fe80::/10, ff00::/8, fd00::2 } reject",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("has no accept rule when there is no resolver and nothing allowed", () => {
    const script = networkPolicyScript({ slirpUid: 7, hostAddresses: [], dnsServers: [], allowed: [] });
    expect(script).not.toContain("accept\n");
    expect(script).toContain("meta skuid 7 ip daddr { 0.0.0.0/8,");
  });
});

describe("hostNetwork", () => {
  it("reads the resolvers of resolv.conf, IPv4 and IPv6, and skips comments and options", () => {
    const { dnsServers } = hostNetwork(
      "# comment\nnameserver 10.255.255.53\noptions edns0\n nameserver fd00::53\n",
    );
    expect(dnsServers).toEqual(["10.255.255.53", "fd00::53"]);
  });
});
