import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { BuildBuddy, BuildScheduler } from "./index";

describe("Build Management Worker", () => {
  it("scheduler reports the limits from its Worker's vars, as the local stack sets them", async () => {
    const stub = env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("limits-test"));
    // stacks/Pulumi.local.yaml: builds.maxConcurrentPerAccount 2, builds.timeoutMinutes 20.
    expect(await stub.limits()).toEqual({ maxConcurrentBuilds: 2, timeoutMinutes: 20 });
  });

  it("a build's status defaults to queued and is read from storage", async () => {
    const stub = env.BUILD_BUDDY.get(env.BUILD_BUDDY.idFromName("status-test"));
    expect(await stub.status()).toBe("queued");
    await runInDurableObject(stub, async (instance: BuildBuddy, state) => {
      expect(instance).toBeInstanceOf(BuildBuddy);
      await state.storage.put("status", "running");
    });
    expect(await stub.status()).toBe("running");
  });

  it("the classes are SQLite-backed", async () => {
    const stub = env.BUILD_SCHEDULER.get(env.BUILD_SCHEDULER.idFromName("sqlite-test"));
    await runInDurableObject(stub, (instance: BuildScheduler, state) => {
      expect(instance).toBeInstanceOf(BuildScheduler);
      expect(state.storage.sql.exec("select 1 as one").one()).toEqual({ one: 1 });
    });
  });
});
