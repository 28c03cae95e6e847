/**
 * Services started in a list and stopped in reverse: the generic part of the local target's start. Each
 * service starts once the services it comes after have started (by default the one just before it, so a
 * list runs in order; naming others lets it run beside them). On a failure nothing more starts, the
 * starts still under way are waited for, and every started service is stopped, last started in the list
 * first. `stop()` does the same once, however often it is called.
 */

/** What a started service leaves behind. */
export interface Started {
  /** Stops the service; called once, after every service later in the list has stopped. */
  stop?(): Promise<void> | void;
  /** Synchronous: tells the service's processes to stop, for a process that is exiting. */
  signalStop?(): void;
}

export interface Service<C> {
  /** Unique in its list; how other services name it in `after` and how errors name it. */
  name: string;
  /**
   * Names of earlier services of the list that must have started before this one starts.
   * @default the service just before it in the list
   */
  after?: readonly string[];
  /** Starts the service; one that fails is expected to undo what it did itself. */
  start(ctx: C): Promise<Started>;
}

export interface Lifecycle<C> {
  /**
   * Starts every service; when one fails, stops the started ones in reverse order and rejects with that
   * service's error (what fails to stop meanwhile goes to `onStopError`). Once per lifecycle.
   */
  start(ctx: C): Promise<void>;
  /**
   * Stops the started services in reverse list order, once (a start under way is waited for, and nothing
   * starts after it). Every service is stopped even when one fails to; rejects then with a `StopError`.
   */
  stop(): Promise<void>;
  /** Calls `signalStop` of the started services in reverse list order (for `process.on("exit")`). */
  signalStop(): void;
  /** Names of the services started so far, in list order. */
  started(): string[];
}

export interface LifecycleOptions {
  /** A service that could not be stopped while undoing a failed start (whose own error is thrown). */
  onStopError?: (service: string, error: unknown) => void;
}

/** Services that could not be stopped; the others were. */
export class StopError extends AggregateError {
  constructor(readonly failures: { service: string; error: unknown }[]) {
    super(
      failures.map((f) => f.error),
      `could not stop ${failures.map((f) => `${f.service} (${messageOf(f.error)})`).join(", ")}`,
    );
    this.name = "StopError";
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The indices of the services each one waits for; throws on a name that is not an earlier service's. */
function dependencies<C>(services: readonly Service<C>[]): number[][] {
  const index = new Map<string, number>();
  return services.map((service, i) => {
    if (index.has(service.name)) throw new Error(`two services are named "${service.name}"`);
    index.set(service.name, i);
    const after = service.after ?? (i > 0 ? [services[i - 1]!.name] : []);
    return after.map((name) => {
      const j = index.get(name);
      if (j === undefined || j === i) {
        throw new Error(`service "${service.name}" comes after "${name}", which is no earlier service`);
      }
      return j;
    });
  });
}

export function lifecycle<C>(services: readonly Service<C>[], options: LifecycleOptions = {}): Lifecycle<C> {
  const needs = dependencies(services);
  const handles: (Started | undefined)[] = services.map(() => undefined);
  let startCalled = false;
  /** Set by a failure or `stop()`: no service starts any more. */
  let halted = false;
  /** Resolves once no start is under way any more. */
  let settled: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;

  const stopStarted = async () => {
    const failures: { service: string; error: unknown }[] = [];
    for (let i = services.length - 1; i >= 0; i--) {
      const handle = handles[i];
      if (!handle) continue;
      try {
        await handle.stop?.();
      } catch (error) {
        failures.push({ service: services[i]!.name, error });
      }
    }
    if (failures.length > 0) throw new StopError(failures);
  };
  const stopOnce = () => {
    stopping ??= stopStarted();
    return stopping;
  };

  const start = async (ctx: C) => {
    if (startCalled) throw new Error("this lifecycle was started already");
    startCalled = true;
    let done = () => {};
    settled = new Promise<void>((resolve) => {
      done = resolve;
    });
    const state = services.map(() => "waiting" as "waiting" | "starting" | "started" | "failed");
    const running = new Map<number, Promise<number>>();
    let failure: { error: unknown } | undefined;
    const launch = (i: number) => {
      state[i] = "starting";
      let starting: Promise<Started>;
      try {
        // Called at once (not in a later turn): what a service does before its first `await` happens in
        // list order, as its first log line does.
        starting = services[i]!.start(ctx);
      } catch (error) {
        starting = Promise.reject(error);
      }
      running.set(
        i,
        starting.then(
          (handle) => {
            handles[i] = handle;
            state[i] = "started";
            return i;
          },
          (error: unknown) => {
            state[i] = "failed";
            failure ??= { error };
            halted = true;
            return i;
          },
        ),
      );
    };
    try {
      for (;;) {
        if (!halted) {
          for (let i = 0; i < services.length; i++) {
            if (state[i] === "waiting" && needs[i]!.every((j) => state[j] === "started")) launch(i);
          }
        }
        if (running.size === 0) break;
        running.delete(await Promise.race(running.values()));
      }
    } finally {
      done();
    }
    if (failure) {
      await stopOnce().catch((error: StopError) => {
        for (const f of error.failures) options.onStopError?.(f.service, f.error);
      });
      throw failure.error;
    }
    if (halted) throw new Error("stopped before every service had started");
  };

  return {
    start,
    stop: async () => {
      halted = true;
      await settled;
      return stopOnce();
    },
    signalStop: () => {
      for (let i = services.length - 1; i >= 0; i--) handles[i]?.signalStop?.();
    },
    started: () => services.filter((_, i) => handles[i] !== undefined).map((s) => s.name),
  };
}

/** Starts `services` in a new lifecycle (see `lifecycle`) and answers it once all have started. */
export async function startAll<C>(
  services: readonly Service<C>[],
  ctx: C,
  options?: LifecycleOptions,
): Promise<Lifecycle<C>> {
  const started = lifecycle(services, options);
  await started.start(ctx);
  return started;
}
