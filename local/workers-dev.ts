/**
 * A request to a workers.dev URL on this machine: sent to the local target's entry port with the URL's
 * host name in `Host`, which is how the target tells deployed Workers and their previews apart. (Node's
 * `fetch` does not let a caller set `Host`, hence `node:http`.)
 */
import http from "node:http";

/** GETs `url` (`https://<name>.workers.dev/<path>`) through `entry`; answers the status and the body. */
export function getByHost(entry: string, url: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const base = new URL(entry);
  return new Promise((resolve, reject) => {
    const req = http.get(
      {
        host: base.hostname,
        port: base.port,
        path: `${target.pathname}${target.search}`,
        headers: { host: target.host },
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on("error", reject);
  });
}
