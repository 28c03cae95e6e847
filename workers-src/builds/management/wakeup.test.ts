import { describe, expect, it } from "vitest";
import { Wakeup } from "./wakeup";

describe("Wakeup", () => {
  it("wakes every waiting reader at once and forgets them", async () => {
    const readers = new Wakeup();
    const woken: number[] = [];
    const waits = [1, 2, 3].map((n) => readers.wait(60_000).then(() => woken.push(n)));
    expect(readers.size).toBe(3);
    readers.wakeAll();
    await Promise.all(waits);
    expect(woken).toEqual([1, 2, 3]);
    expect(readers.size).toBe(0);
  });

  it("lets a reader go after its timeout without waking the others", async () => {
    const readers = new Wakeup();
    let long = false;
    const longWait = readers.wait(60_000).then(() => {
      long = true;
    });
    await readers.wait(10);
    expect(long).toBe(false);
    expect(readers.size).toBe(1);
    readers.wakeAll();
    await longWait;
    expect(long).toBe(true);
  });

  it("does nothing when nobody waits", () => {
    const readers = new Wakeup();
    readers.wakeAll();
    expect(readers.size).toBe(0);
  });
});
