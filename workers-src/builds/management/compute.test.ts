import { describe, expect, it } from "vitest";
import type { RunnerHealth, StartBuildRequest } from "../shared/protocol";
import { ComputeError, HttpRunnerBackend, type RunnerProbe, rankRunners } from "./compute";

function recorder(status: number | Error) {
  const calls: { url: string; method: string; authorization: string | null; body: string | null }[] = [];
  const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    calls.push({
      url: request.url,
      method: request.method,
      authorization: request.headers.get("authorization"),
      body: request.method === "POST" ? await request.text() : null,
    });
    if (status instanceof Error) throw status;
    return new Response("runner says", { status });
  }) as typeof fetch;
  return { calls, fetcher };
}

const request = { build_uuid: "00000000-0000-4000-8000-0000000000aa" } as StartBuildRequest;

describe("HttpRunnerBackend: the runner service's request shapes", () => {
  it.each(["https://runner.example.net", "https://runner.example.net/"])(
    "POSTs the build as JSON with the runner token to %s/builds",
    async (base) => {
      const { calls, fetcher } = recorder(202);
      await new HttpRunnerBackend(base, "runner-token", fetcher).startBuild(request);
      expect(calls).toEqual([
        {
          url: "https://runner.example.net/builds",
          method: "POST",
          authorization: "Bearer runner-token",
          body: JSON.stringify(request),
        },
      ]);
    },
  );

  it("DELETEs /builds/:uuid to stop a build; a runner that does not know it (404) is not an error", async () => {
    for (const status of [202, 404]) {
      const { calls, fetcher } = recorder(status);
      await new HttpRunnerBackend("https://r.example.net", "t", fetcher).stopBuild(request.build_uuid);
      expect(calls.map((c) => `${c.method} ${c.url} ${c.authorization}`)).toEqual([
        `DELETE https://r.example.net/builds/${request.build_uuid} Bearer t`,
      ]);
    }
  });

  it.each([
    [
      "a refused start",
      () => recorder(503),
      (b: HttpRunnerBackend) => b.startBuild(request),
      /refused the build: HTTP 503 runner says/,
    ],
    [
      "an unreachable runner",
      () => recorder(new Error("connection refused")),
      (b: HttpRunnerBackend) => b.startBuild(request),
      /unreachable: connection refused/,
    ],
    [
      "a failed stop",
      () => recorder(500),
      (b: HttpRunnerBackend) => b.stopBuild("x"),
      /did not stop the build: HTTP 500/,
    ],
  ])("%s is a ComputeError that says what the runner answered", async (_name, make, act, message) => {
    const { fetcher } = make();
    const error = await act(new HttpRunnerBackend("https://r.example.net", "t", fetcher)).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as Error).message).toMatch(message);
  });
});

describe("HttpRunnerBackend: a runner that is not listening yet (starting with the local target)", () => {
  it.each([
    ["one runner", ["https://a.example"]],
    ["several runners", ["https://a.example", "https://b.example"]],
  ])("%s refusing connections is a retryable failure, so the build waits for it", async (_name, urls) => {
    const { fetcher } = recorder(new TypeError("fetch failed: connect ECONNREFUSED 127.0.0.1:1"));
    const error = await new HttpRunnerBackend(urls, "t", fetcher)
      .startBuild(request)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComputeError);
    expect((error as ComputeError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/unreachable: fetch failed/);
  });
});

const health = (active: number, capacity: number, extra: Partial<RunnerHealth> = {}): RunnerHealth => ({
  ok: true,
  active,
  capacity,
  draining: false,
  isolated: true,
  ...extra,
});

describe("rankRunners: which runner a build is offered to first", () => {
  const cases: { name: string; probes: RunnerProbe[]; order: string[]; skipped: string[] }[] = [
    {
      name: "most free capacity first",
      probes: [
        { url: "a", health: health(3, 4) },
        { url: "b", health: health(0, 4) },
        { url: "c", health: health(1, 4) },
      ],
      order: ["b", "c", "a"],
      skipped: [],
    },
    {
      name: "ties keep the configured order",
      probes: [
        { url: "a", health: health(1, 2) },
        { url: "b", health: health(3, 4) },
      ],
      order: ["a", "b"],
      skipped: [],
    },
    {
      name: "a full runner is skipped, with its load",
      probes: [
        { url: "a", health: health(4, 4) },
        { url: "b", health: health(0, 1) },
      ],
      order: ["b"],
      skipped: ["a: busy (4 of 4 builds)"],
    },
    {
      name: "a runner that is down or shutting down is skipped",
      probes: [
        { url: "a", problem: "unreachable: connection refused" },
        { url: "b", health: health(0, 4, { ok: false, draining: true }) },
        { url: "c", health: health(0, 4) },
      ],
      order: ["c"],
      skipped: ["a: unreachable: connection refused", "b: shutting down"],
    },
    { name: "none ready", probes: [{ url: "a", problem: "x" }], order: [], skipped: ["a: x"] },
  ];
  it.each(cases)("$name", ({ probes, order, skipped }) => {
    expect(rankRunners(probes)).toEqual({ order, skipped });
  });
});

describe("HttpRunnerBackend with several runners", () => {
  /** Runners by URL: their health answer (or an Error when down) and the status they answer a POST with. */
  function fleet(runners: Record<string, { health: RunnerHealth | Error; post?: number | Error }>) {
    const calls: string[] = [];
    const fetcher = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      const runner = runners[url.origin];
      calls.push(`${request.method} ${url.origin}${url.pathname}`);
      if (!runner || runner.health instanceof Error) throw runner?.health ?? new Error("no such host");
      if (url.pathname === "/health")
        return Response.json(runner.health, { status: runner.health.ok ? 200 : 503 });
      if (request.method === "POST" && runner.post instanceof Error) throw runner.post;
      const post = typeof runner.post === "number" ? runner.post : 202;
      return new Response("", { status: request.method === "POST" ? post : 202 });
    }) as typeof fetch;
    return { calls, fetcher };
  }

  it("sends the build to the runner with the most free capacity and answers which one took it", async () => {
    const { calls, fetcher } = fleet({
      "https://a.example": { health: health(2, 4) },
      "https://b.example": { health: health(0, 4) },
    });
    const backend = new HttpRunnerBackend(["https://a.example", "https://b.example/"], "t", fetcher);
    expect(await backend.startBuild(request)).toEqual({ runner: "https://b.example" });
    expect(calls.filter((c) => c.startsWith("POST"))).toEqual(["POST https://b.example/builds"]);
  });

  it("skips a runner that is down, and one that answers 503 after all, for the next", async () => {
    const { calls, fetcher } = fleet({
      "https://a.example": { health: new Error("connection refused") },
      "https://b.example": { health: health(0, 8), post: 503 },
      "https://c.example": { health: health(1, 2) },
    });
    const backend = new HttpRunnerBackend(
      ["https://a.example", "https://b.example", "https://c.example"],
      "t",
      fetcher,
    );
    expect(await backend.startBuild(request)).toEqual({ runner: "https://c.example" });
    expect(calls.filter((c) => c.startsWith("POST"))).toEqual([
      "POST https://b.example/builds",
      "POST https://c.example/builds",
    ]);
  });

  it("withdraws a build from a runner whose answer was lost before offering it to the next", async () => {
    const { calls, fetcher } = fleet({
      "https://a.example": { health: health(0, 4), post: new Error("connection reset") },
      "https://b.example": { health: health(1, 4) },
    });
    const backend = new HttpRunnerBackend(["https://a.example", "https://b.example"], "t", fetcher);
    expect(await backend.startBuild(request)).toEqual({ runner: "https://b.example" });
    expect(calls.filter((c) => !c.endsWith("/health"))).toEqual([
      "POST https://a.example/builds",
      `DELETE https://a.example/builds/${request.build_uuid}`,
      "POST https://b.example/builds",
    ]);
  });

  it("fails retryably, naming every runner's state, when none has room", async () => {
    const { fetcher } = fleet({
      "https://a.example": { health: health(4, 4) },
      "https://b.example": { health: new Error("connection refused") },
    });
    const backend = new HttpRunnerBackend(["https://a.example", "https://b.example"], "t", fetcher);
    const error = (await backend.startBuild(request).catch((e: unknown) => e)) as ComputeError;
    expect(error).toBeInstanceOf(ComputeError);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      "no runner took the build (https://a.example: busy (4 of 4 builds); https://b.example: unreachable: connection refused)",
    );
  });

  it("stops a build on the runner that took it, or on every runner when that is not known", async () => {
    const runners = {
      "https://a.example": { health: health(0, 1) },
      "https://b.example": { health: health(0, 1) },
    };
    const known = fleet(runners);
    const uuid = request.build_uuid;
    await new HttpRunnerBackend(Object.keys(runners), "t", known.fetcher).stopBuild(
      uuid,
      "https://b.example",
    );
    expect(known.calls).toEqual([`DELETE https://b.example/builds/${uuid}`]);
    const unknown = fleet(runners);
    await new HttpRunnerBackend(Object.keys(runners), "t", unknown.fetcher).stopBuild(uuid);
    expect(unknown.calls.sort()).toEqual([
      `DELETE https://a.example/builds/${uuid}`,
      `DELETE https://b.example/builds/${uuid}`,
    ]);
  });
});
