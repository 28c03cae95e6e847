import { describe, expect, it } from "vitest";
import { reachable } from "./outbound";

const OWN = new Set(["203.0.113.9", "2001:db8::9"]);

describe("reachable: where a deployed Worker's subrequests may go", () => {
  it.each([
    ["a public IPv4 address", "104.16.132.229", true],
    ["loopback", "127.0.0.1", false],
    ["loopback, elsewhere in 127/8", "127.8.9.10", false],
    ["0.0.0.0", "0.0.0.0", false],
    ["10/8", "10.1.2.3", false],
    ["172.16/12, low end", "172.16.0.1", false],
    ["172.16/12, high end", "172.31.255.254", false],
    ["just past 172.16/12", "172.32.0.1", true],
    ["192.168/16", "192.168.1.1", false],
    ["link-local (cloud metadata)", "169.254.169.254", false],
    ["carrier-grade NAT", "100.64.0.1", false],
    ["benchmarking 198.18/15", "198.19.0.1", false],
    ["multicast", "224.0.0.251", false],
    ["reserved 240/4", "250.1.1.1", false],
    ["the host's own public address", "203.0.113.9", false],
    ["a public IPv6 address", "2606:4700::6810:84e5", true],
    ["IPv6 loopback", "::1", false],
    ["IPv6 unspecified", "::", false],
    ["IPv6 unique local", "fd12:3456::1", false],
    ["IPv6 link-local", "fe80::1", false],
    ["IPv6 link-local with a zone", "fe80::1%eth0", false],
    ["IPv6 multicast", "ff02::1", false],
    ["IPv4-mapped loopback", "::ffff:127.0.0.1", false],
    ["IPv4-mapped public", "::ffff:104.16.132.229", true],
    ["the host's own IPv6 address", "2001:DB8::9", false],
    ["not an address", "example.com", false],
  ])("%s (%s): %s", (_, address, expected) => {
    expect(reachable(address, OWN)).toBe(expected);
  });
});
