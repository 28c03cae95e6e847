/**
 * The KV write benchmark's Worker: one chained write or one read per request, through the framework's
 * kvStore with its writer (serialised) or without (last-write-wins).
 *
 * - `POST /write?mode=serialized|lww&doc=<key>&field=<name>`: sets `fields.<name>` in the document.
 * - `GET /read?mode=kv|writer&doc=<key>`: reads the document from KV, or through its writer.
 * - `GET /fields?doc=<key>`: how many fields the document has, read through the writer (after a run).
 */
import { chainAt, KvWriter, kvStore } from "../../workers-src/framework/storage";

export { KvWriter };

interface Env {
  KV: KVNamespace;
  KV_WRITER: DurableObjectNamespace<KvWriter>;
}

const stores = (env: Env) => ({
  serialized: kvStore<Record<string, unknown>>(env.KV, {
    prefix: "bench/",
    writer: { namespace: env.KV_WRITER, binding: "KV" },
  }),
  lww: kvStore<Record<string, unknown>>(env.KV, { prefix: "bench/" }),
});

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const doc = url.searchParams.get("doc") ?? "doc";
    const { serialized, lww } = stores(env);
    if (url.pathname === "/write") {
      const store = url.searchParams.get("mode") === "lww" ? lww : serialized;
      await chainAt(store, doc, "fields", url.searchParams.get("field") ?? "f").set(1);
      return new Response("ok");
    }
    if (url.pathname === "/read") {
      const value =
        url.searchParams.get("mode") === "writer"
          ? await serialized.getConsistent(doc)
          : await serialized.get(doc);
      return Response.json(value ?? null);
    }
    if (url.pathname === "/fields") {
      const value = (await serialized.getConsistent(doc)) as { fields?: object } | undefined;
      return Response.json({ fields: Object.keys(value?.fields ?? {}).length });
    }
    return new Response("not found", { status: 404 });
  },
};
