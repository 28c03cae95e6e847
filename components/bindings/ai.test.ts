import path from "node:path";
import { describe, expect, it } from "vitest";
import { planLocal, TYPES } from "../../local/target/miniflare-plan";
import { capture, find } from "../../test/mock-program";
import { Worker } from "../worker";

const ACCOUNT = "0123456789abcdef0123456789abcdef";
const ENTRY = path.join(__dirname, "..", "..", "test", "fixtures", "secret-shapes", "worker.ts");

describe("Workers AI binding", () => {
  const program = () =>
    new Worker("api", {
      accountId: ACCOUNT,
      entry: ENTRY,
      compatibilityDate: "2026-10-01",
      ai: { AI: true },
      vars: { MODE: "test" },
    });

  it("declares the binding as Cloudflare's API takes it", async () => {
    const resources = await capture(program);
    expect(find(resources, TYPES.script, "api").inputs.bindings).toEqual([
      { type: "plain_text", name: "MODE", text: "test" },
      { type: "ai", name: "AI" },
    ]);
  });

  it("refuses a second binding of the same name, as every kind does", async () => {
    await expect(
      capture(
        () =>
          new Worker("api", {
            accountId: ACCOUNT,
            entry: ENTRY,
            compatibilityDate: "2026-10-01",
            ai: { MODE: true },
            vars: { MODE: "test" },
          }),
      ),
    ).rejects.toThrow('Worker api: binding name "MODE" is used twice');
  });

  it("is reported as not emulated on the local target, which starts the Worker without it", async () => {
    const plan = planLocal(await capture(program));
    const [worker] = plan.workers;
    expect(worker?.bindings).toEqual({ MODE: "test" });
    expect(Object.values(worker ?? {}).some((v) => typeof v === "object" && v !== null && "AI" in v)).toBe(
      false,
    );
    expect(plan.notEmulated).toContainEqual({
      type: `${TYPES.script}.bindings.ai`,
      name: "proj-test-api AI",
      reason: expect.stringContaining("remote proxy"),
    });
  });
});
