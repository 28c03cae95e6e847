/**
 * A build's network: a network namespace of its own, connected to the outside by slirp4netns (user-space
 * NAT). Outbound connections (git, package registries) work; the host's loopback, where the runner's API
 * and the local target's services listen, is not reachable (`--disable-host-loopback`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { findProgram, run, SYSTEM_PATH } from "./host-tools";

/** The address slirp4netns answers DNS on, inside the namespace. */
export const SANDBOX_DNS = "10.0.2.3";
const NETNS_DIR = "/run/netns";
/** A build whose network is not up by then fails to start rather than hold its slot. */
const READY_TIMEOUT_MS = 10_000;

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

  static async create(name: string): Promise<BuildNetwork> {
    await run("ip", ["netns", "add", name]);
    const slirp4netns = findProgram("slirp4netns") ?? "slirp4netns";
    const slirp = spawn(
      slirp4netns,
      [
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
        const ready = slirp.stdio[3] as Readable;
        const timer = setTimeout(
          () =>
            reject(
              new Error(`slirp4netns was not ready within ${READY_TIMEOUT_MS / 1000} s: ${stderr.trim()}`),
            ),
          READY_TIMEOUT_MS,
        );
        ready.once("data", () => {
          clearTimeout(timer);
          resolve();
        });
        slirp.once("error", (error) => {
          clearTimeout(timer);
          reject(error);
        });
        slirp.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`slirp4netns exited (${code}): ${stderr.trim()}`));
        });
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
