import { DurableObject } from "cloudflare:workers";

export interface DemoEnv {
  DEMO_KV: KVNamespace;
  DEMO_OBJECTS: DurableObjectNamespace<DemoObject>;
}

/** Holds one demo document in SQLite-backed storage. */
export class DemoObject extends DurableObject<DemoEnv> {
  async put(key: string, value: unknown): Promise<void> {
    await this.ctx.storage.put(key, value);
  }
  async get(key: string): Promise<unknown> {
    return this.ctx.storage.get(key);
  }
}

export default {
  async fetch(request: Request, env: DemoEnv): Promise<Response> {
    const url = new URL(request.url);
    return Response.json({ app: "framework-demo", path: url.pathname, kvReady: env.DEMO_KV !== undefined });
  },
} satisfies ExportedHandler<DemoEnv>;
