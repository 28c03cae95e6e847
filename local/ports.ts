import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * Ports for servers the local target starts itself (PostgreSQL, workerd's sockets, build runners).
 *
 * A port the kernel hands out for `listen(0)` comes from its ephemeral range, the same range outgoing
 * connections take their local ports from. Between choosing such a port and the server binding it, any
 * connection on the machine (a test's HTTP client, workerd talking to PostgreSQL) can take it, and the
 * server then fails with "Address already in use". Ports are therefore picked at random below the
 * ephemeral range, where no outgoing connection lands, and checked by binding them once.
 */

/** The kernel's ephemeral range, `[low, high]`; Linux's default when it cannot be read. */
export function ephemeralRange(procFile = "/proc/sys/net/ipv4/ip_local_port_range"): [number, number] {
  try {
    const [low = Number.NaN, high = Number.NaN] = readFileSync(procFile, "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux, or /proc not mounted
  }
  return [32768, 60999];
}

/**
 * The range to pick from: 10000 up to just below the ephemeral range, or above it when that leaves
 * too little room (a kernel configured with a low ephemeral range).
 */
export function pickRange([low, high]: [number, number]): [number, number] {
  const floor = 10_000;
  if (low - 1 - floor >= 1000) return [floor, low - 1];
  if (65_535 - (high + 1) >= 1000) return [high + 1, 65_535];
  return [floor, 65_535];
}

const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A port on 127.0.0.1 that is free now and was not handed out before by this process. */
export async function freePort(random: () => number = Math.random): Promise<number> {
  const [from, to] = pickRange(ephemeralRange());
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(random() * (to - from + 1));
    if (handedOut.has(port)) continue;
    // Taken before the bind check, so that a concurrent call cannot draw it meanwhile.
    handedOut.add(port);
    if (await canBind(port)) return port;
    handedOut.delete(port);
  }
  // Everything tried was taken: fall back to the kernel's choice rather than fail the start.
  const port = await kernelPort();
  handedOut.add(port);
  return port;
}
