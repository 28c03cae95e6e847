import type { LiveStateSource } from "../components/live-state";
import { type CapturedResource, captureProgram, isSecretWrapper } from "../local/capture";

export type { CapturedResource };

/** Runs `program` under Pulumi's mock runtime as project "proj", stack "test"; returns what it registered. */
export async function capture(
  program: () => unknown,
  config: Record<string, string> = {},
): Promise<CapturedResource[]> {
  const { resources } = await captureProgram(
    { project: "proj", stack: "test", config, secretKeys: [] },
    program,
  );
  return resources;
}

/** The error a refused program rejects `capture` with; fails the test when the capture succeeds. */
export async function captureError(program: () => unknown): Promise<Error> {
  try {
    await capture(program);
  } catch (err) {
    return err as Error;
  }
  throw new Error("capture resolved, but the program should have been refused");
}

/** The one resource with this type and logical name; fails the test when absent. */
export function find(resources: CapturedResource[], type: string, name: string): CapturedResource {
  const hit = resources.find((r) => r.type === type && r.name === name);
  if (!hit) {
    throw new Error(
      `no ${type} named ${name}; registered: ${resources.map((r) => `${r.type}::${r.name}`).join(", ")}`,
    );
  }
  return hit;
}

/** `[type, name]` of every resource, in a stable order, for exact graph assertions. */
export function shape(resources: CapturedResource[]): string[] {
  return resources.map((r) => `${r.type}::${r.name}`).sort();
}

/** Inputs with Pulumi's secret wrappers replaced by `{ secret: value }`, so tests can see what is secret. */
export function revealSecrets(value: unknown): unknown {
  if (isSecretWrapper(value)) return { secret: revealSecrets(value.value) };
  if (Array.isArray(value)) return value.map(revealSecrets);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealSecrets(v)]));
  }
  return value;
}

/** Inputs with every Pulumi secret replaced by `"[secret]"`: what shows of them in plain text. */
export function withoutSecrets(value: unknown): unknown {
  if (isSecretWrapper(value)) return "[secret]";
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutSecrets(v)]));
  }
  return value;
}

/** The URN of a resource's parent chain member by type and name, for parent/dependsOn assertions. */
export function urnOf(resources: CapturedResource[], type: string, name: string): string {
  return find(resources, type, name).urn;
}

/** A live-state source that answers one tag and records what it was asked. */
export function liveTag(tag: string | undefined): LiveStateSource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    migrationTag: async (accountId, scriptName) => {
      asked.push(`${accountId}/${scriptName}`);
      return tag;
    },
  };
}
