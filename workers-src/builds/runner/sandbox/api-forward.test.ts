/**
 * The forward of one host loopback port into a network namespace, on a bare namespace of the test's own:
 * the port answers inside, no other does, the forwarder is an unprivileged process of its own, and
 * closing it leaves no process and no socket. (A build's own use of it is in `../cloudflare-api.test.ts`.)
 */
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { processAlive, tempDir } from "../testing";
import { ApiForward, loopbackPort, MAX_CONNECTIONS } from "./api-forward";
import { findProgram, run } from "./host-tools";

const work = tempDir("api-forward-");
const netns = `wbt-${randomBytes(4).toString("hex")}`;
const netnsPath = `/run/netns/${netns}`;
const uid = 7_000_000 + randomInt(0, 10_000) * 100;
const servers: Server[] = [];
let api: number;
let other: number;
/** Connections the host's servers accepted. */
let accepted = 0;

async function serve(answer: string): Promise<number> {
  const server = createServer((req, res) => {
    res.end(`${answer} ${req.method} ${req.url}`);
  });
  server.on("connection", () => accepted++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** What a fetch from inside the namespace gets (as root: the namespace's network is the point here). */
function fetchInside(url: string): Promise<string> {
  return runInside(
    `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => console.log("answer: " + t), (e) => console.log("error: " + (e.cause?.code ?? e.message)))`,
  );
}

function runInside(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      findProgram("nsenter") as string,
      [`--net=${netnsPath}`, "--", process.execPath, "-e", script],
      { timeout: 10_000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    );
  });
}

beforeAll(async () => {
  api = await serve("api");
  other = await serve("other");
  await run("ip", ["netns", "add", netns]);
  await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
  chmodSync(work.dir, 0o700);
});

afterAll(async () => {
  await run("ip", ["netns", "delete", netns]).catch(() => undefined);
  for (const server of servers) server.close();
  work.remove();
});

function start(dir: string): Promise<ApiForward> {
  return ApiForward.start({
    port: api,
    netnsPath,
    dir,
    uid,
    setpriv: findProgram("setpriv") as string,
    nsenter: findProgram("nsenter") as string,
    label: "api-forward-test",
  });
}

describe("ApiForward", () => {
  it("reaches the host's port at the same address inside the namespace, and no other port", async () => {
    const dir = path.join(work.dir, "job", "api");
    mkdirSync(path.dirname(dir), { mode: 0o700 });
    const forward = await start(dir);
    try {
      expect(await fetchInside(`http://127.0.0.1:${api}/client/v4/x`)).toBe("answer: api GET /client/v4/x");
      expect(await fetchInside(`http://[::1]:${api}/y`)).toBe("answer: api GET /y");
      expect(await fetchInside(`http://127.0.0.1:${other}/`)).toBe("error: ECONNREFUSED");
      // The forwarder runs as the uid it was given, with no capabilities and no way to gain any.
      const status = readFileSync(`/proc/${forward.pid}/status`, "utf8");
      expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, "m"));
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      const socket = statSync(path.join(dir, "api.sock"));
      expect(socket.isSocket()).toBe(true);
      expect([socket.uid, socket.mode & 0o777]).toEqual([uid, 0o600]);
    } finally {
      await forward.close();
    }
    expect(processAlive(forward.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await fetchInside(`http://127.0.0.1:${api}/`)).toBe("error: ECONNREFUSED");
  });

  it(`keeps at most ${MAX_CONNECTIONS} connections of a build open at once, closing more at once`, async () => {
    const forward = await start(path.join(work.dir, "many"));
    try {
      accepted = 0;
      const open = await runInside(`
        const net = require("node:net");
        const sockets = Array.from({ length: ${MAX_CONNECTIONS + 16} }, () =>
          net.connect(${api}, "127.0.0.1").on("error", () => undefined),
        );
        setTimeout(() => {
          console.log(sockets.filter((s) => !s.destroyed && s.readyState === "open").length);
          process.exit(0);
        }, 1500);
      `);
      expect(Number(open)).toBe(MAX_CONNECTIONS);
      expect(accepted).toBe(MAX_CONNECTIONS);
      // Once they are gone, new ones are taken again.
      await expect
        .poll(() => fetchInside(`http://127.0.0.1:${api}/again`), { timeout: 5000 })
        .toBe("answer: api GET /again");
    } finally {
      await forward.close();
    }
  });

  it("says how long its start took (SHOW_TIMES=1 prints it)", async () => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const dir = path.join(work.dir, `timed-${i}`, "api");
      mkdirSync(path.dirname(dir), { mode: 0o700 });
      const forward = await start(dir);
      times.push(forward.startMs);
      await forward.close();
    }
    if (process.env.SHOW_TIMES) console.log(`forwarder start (ms): ${times.join(", ")}`);
    for (const ms of times) expect(ms).toBeGreaterThan(0);
  });

  it("fails to start, leaving nothing, when the port is taken in the namespace", async () => {
    const first = await start(path.join(work.dir, "taken-1"));
    try {
      await expect(start(path.join(work.dir, "taken-2"))).rejects.toThrow(
        /the Cloudflare API forward could not start: the forwarder exited \(1\): .*EADDRINUSE/,
      );
      expect(existsSync(path.join(work.dir, "taken-2"))).toBe(false);
    } finally {
      await first.close();
    }
  });

  it.each([
    ["http://127.0.0.1:8787", 8787],
    ["http://127.0.0.1:8787/", 8787],
  ])("takes %s", (text, port) => {
    expect(loopbackPort(text)).toBe(port);
  });

  it.each([
    "http://localhost:8787",
    "http://127.0.0.1",
    "https://127.0.0.1:8787",
    "http://127.0.0.1:8787/client/v4",
    "http://10.0.0.1:8787",
    "127.0.0.1:8787",
  ])("refuses %s", (text) => {
    expect(() => loopbackPort(text)).toThrow(/the Cloudflare API must be http:\/\/127\.0\.0\.1:<port>/);
  });
});
