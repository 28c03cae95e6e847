import { evictDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Member, TestEnv } from "./test-worker.js";

const testEnv = env as unknown as TestEnv;
let n = 0;
const uniqueRoom = () => `room-${++n}-${Date.now()}`;

/** A client socket whose messages are read in order with `next()`. */
async function join(room: string, user: string) {
  const res = await SELF.fetch(`https://example.com/rooms/${room}/ws?user=${user}`, {
    headers: { upgrade: "websocket" },
  });
  expect(res.status).toBe(101);
  expect(res.headers.get("x-trace")).toBe("outer:in,inner:in,inner:out,outer:out");
  const socket = res.webSocket!;
  socket.accept();
  const received: string[] = [];
  const waiting: ((message: string) => void)[] = [];
  socket.addEventListener("message", (event) => {
    const message = event.data as string;
    const waiter = waiting.shift();
    if (waiter) waiter(message);
    else received.push(message);
  });
  const next = () => {
    const message = received.shift();
    if (message !== undefined) return Promise.resolve(message);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${user} got no message within 2s`)), 2000);
      waiting.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  };
  const whoami = async () => {
    socket.send("whoami");
    return JSON.parse(await next()) as Member;
  };
  return { socket, next, whoami };
}

describe("WebSocket rooms", () => {
  it("broadcasts a message to every other member of the room, not to the sender", async () => {
    const room = uniqueRoom();
    const [ada, bob, cy] = await Promise.all([join(room, "ada"), join(room, "bob"), join(room, "cy")]);
    const elsewhere = await join(uniqueRoom(), "dee");

    ada.socket.send("hello");
    expect(JSON.parse(await bob.next())).toEqual({ from: "ada", text: "hello" });
    expect(JSON.parse(await cy.next())).toEqual({ from: "ada", text: "hello" });
    // Messages on one socket arrive in order: had ada got her own message, it would come before this answer.
    expect((await ada.whoami()).user).toBe("ada");
    expect((await elsewhere.whoami()).user).toBe("dee");
  });

  it("keeps broadcasting to the members still there after one leaves", async () => {
    const room = uniqueRoom();
    const [ada, bob, cy] = await Promise.all([join(room, "ada"), join(room, "bob"), join(room, "cy")]);
    bob.socket.close(1000, "bye");

    cy.socket.send("still here?");
    expect(JSON.parse(await ada.next())).toEqual({ from: "cy", text: "still here?" });
    expect((await cy.whoami()).user).toBe("cy");
  });

  it("gives each socket its own attachment, and keeps it across hibernation", async () => {
    const room = uniqueRoom();
    const ada = await join(room, "ada");
    const bob = await join(room, "bob");

    ada.socket.send("rename:ada lovelace");
    ada.socket.send("one");
    ada.socket.send("two");
    await bob.next();
    await bob.next();
    expect(await ada.whoami()).toEqual({ user: "ada lovelace", room, sent: 2 });
    expect(await bob.whoami()).toEqual({ user: "bob", room, sent: 0 });

    await evictDurableObject(testEnv.ROOMS.get(testEnv.ROOMS.idFromName(room)));

    expect(await ada.whoami()).toEqual({ user: "ada lovelace", room, sent: 2 });
    bob.socket.send("after the nap");
    expect(JSON.parse(await ada.next())).toEqual({ from: "bob", text: "after the nap" });
    expect(await bob.whoami()).toEqual({ user: "bob", room, sent: 1 });
  });

  it("answers a request without Upgrade: websocket with 426", async () => {
    const res = await SELF.fetch(`https://example.com/rooms/${uniqueRoom()}/ws?user=ada`);
    expect(res.status).toBe(426);
    expect(res.headers.get("upgrade")).toBe("websocket");
  });

  it("lets the room refuse a connection with a response of its own", async () => {
    const res = await SELF.fetch(`https://example.com/rooms/${uniqueRoom()}/ws`, {
      headers: { upgrade: "websocket" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "?user= is required" });
  });
});
