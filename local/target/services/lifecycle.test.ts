import { describe, expect, it } from "vitest";
import { lifecycle, type Service, StopError, startAll } from "./lifecycle";

type Events = string[];

interface Fake {
  name: string;
  after?: string[];
  /** The start rejects with `${name} failed`. */
  fails?: boolean;
  /** The stop throws `${name} would not stop`. */
  stopFails?: boolean;
  /** The start resolves once this promise does. */
  until?: Promise<void>;
}

/** Services that record `start x`, `started x`, `stop x` and `signal x` in the events they start with. */
function fakes(list: Fake[]): Service<Events>[] {
  return list.map((f) => ({
    name: f.name,
    after: f.after,
    start: async (ctx) => {
      ctx.push(`start ${f.name}`);
      await f.until;
      if (f.fails) throw new Error(`${f.name} failed`);
      ctx.push(`started ${f.name}`);
      return {
        stop: async () => {
          ctx.push(`stop ${f.name}`);
          if (f.stopFails) throw new Error(`${f.name} would not stop`);
        },
        signalStop: () => ctx.push(`signal ${f.name}`),
      };
    },
  }));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const NAMES = ["lock", "graph", "postgres", "workerd", "report"];

describe("services in a list", () => {
  it("start in order and stop in reverse order", async () => {
    const events: Events = [];
    const started = await startAll(fakes(NAMES.map((name) => ({ name }))), events);
    expect(started.started()).toEqual(NAMES);
    await started.stop();
    expect(events).toEqual([
      ...NAMES.flatMap((n) => [`start ${n}`, `started ${n}`]),
      ...[...NAMES].reverse().map((n) => `stop ${n}`),
    ]);
  });

  it.each(NAMES.map((failing, at) => [failing, at] as const))(
    "a failure of %s stops exactly the services started before it, in reverse order",
    async (failing, at) => {
      const events: Events = [];
      const services = fakes(NAMES.map((name) => ({ name, fails: name === failing })));
      const target = lifecycle(services);
      await expect(target.start(events)).rejects.toThrow(`${failing} failed`);
      const before = NAMES.slice(0, at);
      expect(events).toEqual([
        ...before.flatMap((n) => [`start ${n}`, `started ${n}`]),
        `start ${failing}`,
        ...[...before].reverse().map((n) => `stop ${n}`),
      ]);
      expect(target.started()).toEqual(before);
      // Stopping afterwards stops nothing more.
      await target.stop();
      expect(events.filter((e) => e.startsWith("stop"))).toHaveLength(before.length);
    },
  );

  it("stop is idempotent: called twice, and twice at once, each service stops once", async () => {
    const events: Events = [];
    const target = await startAll(fakes(NAMES.map((name) => ({ name }))), events);
    await Promise.all([target.stop(), target.stop()]);
    await target.stop();
    expect(events.filter((e) => e.startsWith("stop"))).toEqual([...NAMES].reverse().map((n) => `stop ${n}`));
  });

  it("a stop that throws does not keep the others from stopping, and stop() reports it", async () => {
    const events: Events = [];
    const target = await startAll(
      fakes(NAMES.map((name) => ({ name, stopFails: name === "postgres" || name === "graph" }))),
      events,
    );
    const error = await target.stop().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(events.filter((e) => e.startsWith("stop"))).toEqual([...NAMES].reverse().map((n) => `stop ${n}`));
    expect(error).toBeInstanceOf(StopError);
    expect((error as StopError).message).toBe(
      "could not stop postgres (postgres would not stop), graph (graph would not stop)",
    );
    expect((error as StopError).failures.map((f) => f.service)).toEqual(["postgres", "graph"]);
    // Reported once: a later stop() answers the same outcome and stops nothing again.
    await expect(target.stop()).rejects.toBe(error);
    expect(events.filter((e) => e.startsWith("stop"))).toHaveLength(NAMES.length);
  });

  it("a stop that throws while a failed start is undone: the start's error, the stop's reported", async () => {
    const events: Events = [];
    const reported: string[] = [];
    const target = lifecycle(
      fakes([{ name: "lock" }, { name: "postgres", stopFails: true }, { name: "workerd", fails: true }]),
      { onStopError: (service, error) => reported.push(`${service}: ${(error as Error).message}`) },
    );
    await expect(target.start(events)).rejects.toThrow("workerd failed");
    expect(events.filter((e) => e.startsWith("stop"))).toEqual(["stop postgres", "stop lock"]);
    expect(reported).toEqual(["postgres: postgres would not stop"]);
  });

  it("a start that throws before its first await fails like one that rejects", async () => {
    const events: Events = [];
    const services: Service<Events>[] = [
      ...fakes([{ name: "lock" }]),
      {
        name: "sync",
        start: () => {
          throw new Error("thrown at once");
        },
      },
    ];
    await expect(startAll(services, events)).rejects.toThrow("thrown at once");
    expect(events).toEqual(["start lock", "started lock", "stop lock"]);
  });

  it("signalStop signals the started services in reverse order", async () => {
    const events: Events = [];
    const target = await startAll(fakes(NAMES.map((name) => ({ name }))), events);
    events.length = 0;
    target.signalStop();
    expect(events).toEqual([...NAMES].reverse().map((n) => `signal ${n}`));
  });

  it.each([
    ["an unknown service", [{ name: "a" }, { name: "b", after: ["c"] }], 'service "b" comes after "c"'],
    ["a later service", [{ name: "a", after: ["b"] }, { name: "b" }], 'service "a" comes after "b"'],
    ["itself", [{ name: "a", after: ["a"] }], 'service "a" comes after "a"'],
    ["a name used twice", [{ name: "a" }, { name: "a" }], 'two services are named "a"'],
  ])("refuses a list where a service comes after %s, before starting anything", (_case, list, message) => {
    const events: Events = [];
    expect(() => lifecycle(fakes(list))).toThrow(message);
    expect(events).toEqual([]);
  });
});

describe("services declared to start beside others", () => {
  /** postgres and workerd both start once ports has; resources after postgres; d1 after workerd and resources. */
  const graph = (postgres: Promise<void>, workerd: Promise<void>, fails?: string): Fake[] => [
    { name: "ports" },
    { name: "postgres", until: postgres, fails: fails === "postgres" },
    { name: "workerd", after: ["ports"], until: workerd, fails: fails === "workerd" },
    { name: "resources", after: ["postgres"] },
    { name: "d1", after: ["workerd", "resources"] },
  ];

  it("start side by side, each dependant once what it needs has started; stop in reverse list order", async () => {
    const events: Events = [];
    const postgres = deferred();
    const workerd = deferred();
    const target = lifecycle(fakes(graph(postgres.promise, workerd.promise)));
    const starting = target.start(events);
    await new Promise((r) => setTimeout(r, 0));
    // Both started in list order at once, neither finished.
    expect(events).toEqual(["start ports", "started ports", "start postgres", "start workerd"]);
    postgres.resolve();
    await new Promise((r) => setTimeout(r, 0));
    // The resources start as soon as postgres is up, while workerd still starts; d1 still waits.
    expect(events.slice(4)).toEqual(["started postgres", "start resources", "started resources"]);
    workerd.resolve();
    await starting;
    expect(events.slice(7)).toEqual(["started workerd", "start d1", "started d1"]);
    await target.stop();
    expect(events.slice(10)).toEqual([
      "stop d1",
      "stop resources",
      "stop workerd",
      "stop postgres",
      "stop ports",
    ]);
  });

  it.each([
    ["postgres", "workerd"],
    ["workerd", "postgres"],
  ])(
    "a failure of %s waits for %s still starting, then stops it and what started before",
    async (failing, other) => {
      const events: Events = [];
      const postgres = deferred();
      const workerd = deferred();
      const target = lifecycle(fakes(graph(postgres.promise, workerd.promise, failing)));
      const starting = target.start(events).then(
        () => undefined,
        (e: Error) => e.message,
      );
      await new Promise((r) => setTimeout(r, 0));
      (failing === "postgres" ? postgres : workerd).resolve();
      await new Promise((r) => setTimeout(r, 0));
      // Nothing is stopped while the other is still starting, and nothing new starts.
      expect(events.filter((e) => e.startsWith("stop") || e === "start resources")).toEqual([]);
      (other === "postgres" ? postgres : workerd).resolve();
      expect(await starting).toBe(`${failing} failed`);
      expect(events.slice(-2)).toEqual([`stop ${other}`, "stop ports"]);
      expect(target.started()).toEqual(["ports", other]);
      expect(events).not.toContain("start d1");
    },
  );

  it("stop() during a start waits for the starts under way, starts nothing more, and stops what started", async () => {
    const events: Events = [];
    const postgres = deferred();
    const workerd = deferred();
    const target = lifecycle(fakes(graph(postgres.promise, workerd.promise)));
    const starting = target.start(events).then(
      () => undefined,
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 0));
    const stopped = target.stop();
    postgres.resolve();
    workerd.resolve();
    await stopped;
    expect(await starting).toBe("stopped before every service had started");
    expect(events.filter((e) => e.startsWith("stop"))).toEqual([
      "stop workerd",
      "stop postgres",
      "stop ports",
    ]);
    expect(events).not.toContain("start resources");
  });
});
