import { createExecutionContext, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BuildManagement } from "./index";

const UUID = "00000000-0000-4000-a000-000000000001";

describe("BuildManagement.reportStatuses", () => {
  const api = () => new BuildManagement(createExecutionContext(), env);

  it.each([
    [
      "a build uuid that is not one",
      [{ build_uuid: "../x", state: "queued" }],
      "https://b.example",
      /invalid build uuid/,
    ],
    [
      "a state the Client does not report",
      [{ build_uuid: UUID, state: "running" }],
      "https://b.example",
      /unknown status "running"/,
    ],
    [
      "a link that is not an origin",
      [{ build_uuid: UUID, state: "queued" }],
      "https://b.example/api",
      /invalid link origin/,
    ],
    [
      "a link that is not http(s)",
      [{ build_uuid: UUID, state: "queued" }],
      "file:///tmp",
      /invalid link origin/,
    ],
  ])("refuses %s", async (_name, reports, link, error) => {
    await expect(api().reportStatuses(reports as never, link)).rejects.toThrow(error);
  });
});
