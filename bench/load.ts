/** A closed-loop load generator shared by the HTTP benchmarks. */

export interface Target {
  name: string;
  /** One request; answers whether it succeeded. */
  send(): Promise<boolean>;
}

export interface Load {
  requests: number;
  errors: number;
  ms: number;
  latencies: number[];
}

/** `concurrency` loops, each sending its next request as soon as the previous one was answered. */
export async function load(target: Target, durationMs: number, concurrency: number): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        if (await target.send()) latencies.push(performance.now() - sent);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { requests: latencies.length, errors, ms: performance.now() - start, latencies };
}

/** Requests per second of a load. */
export const rps = (l: Load) => (l.requests / l.ms) * 1000;
