import { describe, expect, it } from "vitest";
import type { StartBuildRequest } from "../shared/protocol";
import { ComputeError, HttpRunnerBackend } from "./compute";

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
