import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Miniflare, V4MiniflareOptions } from "miniflare";
import { tetherWorkerd } from "../target/workerd-tether";
import {
  accountDataDir,
  defaultStorageKey,
  miniflareOptionsFor,
  REFUSED,
  SHARED_STORAGE,
  scriptDataDir,
} from "./bindings";
import { forwardRequest, type ScriptProxy, startScriptProxy } from "./proxy";
import {
  type MigrationStep,
  UploadRefused,
  type WorkerHost,
  type WorkerVersion,
  workersDevSubdomain,
} from "./types";

/**
 * The runtime of the Workers deployed through the Cloudflare API stand-in. Each running version is a
 * Miniflare instance of its own (its own workerd process); each deployed script has a proxy on a port of
 * its own that stays while versions come and go (see `deploy`). Data, under `dataDir`:
 *
 * - `<account>/{kv,r2,d1}`: the account's KV namespaces, R2 buckets and D1 databases, by id, shared by
 *   its scripts (each script's Miniflare root links to them);
 * - `<account>/scripts/<script>/`: the script's Miniflare root (`resourcePersistencePath`): its Durable
 *   Objects in `do/<unique key>`, its cache, and `do-keys.json` (class → unique key after renames, and
 *   deletions not yet applied).
 */

export interface WorkerHostOptions {
  dataDir: string;
  log: (line: string) => void;
  /** Where the proxy port of each script is kept, so that a restarted host uses the same ones. */
  portFile?: string;
  /** Called after a deploy or a remove changed the set of deployed scripts or their URLs. */
  onChange?: () => void;
  /** Most previews kept running per script (3); a disposed one starts again on its next request. */
  maxPreviews?: number;
  /** How long a swap waits for the old version's requests in flight (10 s). */
  drainTimeoutMs?: number;
}

interface Instance {
  mf: Miniflare;
  /** Miniflare's entry, `http://127.0.0.1:<port>`. */
  url: string;
  version: WorkerVersion;
}

interface Preview {
  version: WorkerVersion;
  running?: Promise<Instance>;
  lastUsed: number;
}

interface Script {
  accountId: string;
  scriptName: string;
  proxy?: ScriptProxy;
  production?: Instance;
  previews: Map<string, Preview>;
  /** Operations on the script (deploy, migrate, preview start, remove) run one after the other. */
  queue: Promise<unknown>;
}

/** What `do-keys.json` holds. */
interface StorageRecord {
  /** Class → the unique key its data is kept under, where it is not `<script>-<Class>` (renames). */
  keys: Record<string, string>;
  /** Unique keys of deleted classes whose data goes once no instance of the script runs. */
  pendingDeletes: string[];
}

const NOT_FOUND = {
  success: false,
  errors: [{ code: 10007, message: "workers.dev: nothing is deployed on this host name" }],
  messages: [],
  result: null,
};

/** The text workerd gave for a start that failed, without Miniflare's wrapping. */
function startupError(error: unknown, logged: string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  const fromStderr: string[] = [];
  const at = message.indexOf("Runtime stderr:");
  if (at >= 0) {
    for (const line of message.slice(at + "Runtime stderr:".length).split("\n")) {
      const trimmed = line.trim();
      if (trimmed === "") continue;
      try {
        const parsed = JSON.parse(trimmed) as { message?: unknown };
        if (typeof parsed.message === "string") fromStderr.push(parsed.message);
      } catch {
        fromStderr.push(trimmed);
      }
    }
  }
  const lines = fromStderr.length > 0 ? fromStderr : logged.length > 0 ? logged : [message];
  return lines
    .map((l) => l.replace(/^service core:user:[^:]*: /, ""))
    .join("\n")
    .trim();
}

export function createWorkerHost(options: WorkerHostOptions): WorkerHost {
  const { dataDir, log } = options;
  const maxPreviews = options.maxPreviews ?? 3;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const scripts = new Map<string, Script>();
  const ports = new Map<string, number>(Object.entries(readPortFile()));
  const starting = new Set<Promise<Instance>>();
  let closed = false;
  tetherWorkerd();

  const keyOf = (accountId: string, scriptName: string) => `${accountId}/${scriptName}`;

  function readPortFile(): Record<string, number> {
    if (!options.portFile || !existsSync(options.portFile)) return {};
    try {
      const parsed = JSON.parse(readFileSync(options.portFile, "utf8")) as Record<string, unknown>;
      return Object.fromEntries(
        Object.entries(parsed).filter((e): e is [string, number] => Number.isInteger(e[1])),
      );
    } catch {
      return {};
    }
  }
  function writePortFile() {
    if (!options.portFile) return;
    mkdirSync(path.dirname(options.portFile), { recursive: true });
    const partial = `${options.portFile}.${process.pid}.tmp`;
    writeFileSync(partial, `${JSON.stringify(Object.fromEntries(ports), null, 2)}\n`);
    renameSync(partial, options.portFile);
  }

  function scriptOf(accountId: string, scriptName: string): Script {
    const key = keyOf(accountId, scriptName);
    let script = scripts.get(key);
    if (!script) {
      script = { accountId, scriptName, previews: new Map(), queue: Promise.resolve() };
      scripts.set(key, script);
    }
    return script;
  }

  /** Runs `op` once the script's earlier operations are done. */
  function serial<T>(script: Script, op: () => Promise<T>): Promise<T> {
    const run = script.queue.then(op, op);
    script.queue = run.catch(() => undefined);
    return run;
  }

  const recordFile = (accountId: string, scriptName: string) =>
    path.join(scriptDataDir(dataDir, accountId, scriptName), "do-keys.json");
  function readRecord(accountId: string, scriptName: string): StorageRecord {
    const file = recordFile(accountId, scriptName);
    if (!existsSync(file)) return { keys: {}, pendingDeletes: [] };
    const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<StorageRecord>;
    return { keys: parsed.keys ?? {}, pendingDeletes: parsed.pendingDeletes ?? [] };
  }
  function writeRecord(accountId: string, scriptName: string, record: StorageRecord) {
    const file = recordFile(accountId, scriptName);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
  /** Removes the data of deleted classes; only while no instance of the script runs. */
  function applyPendingDeletes(script: Script) {
    const record = readRecord(script.accountId, script.scriptName);
    if (record.pendingDeletes.length === 0) return;
    const root = path.join(scriptDataDir(dataDir, script.accountId, script.scriptName), "do");
    for (const key of record.pendingDeletes) {
      // Only a folder right below `do/`, whatever the record says.
      const folder = path.resolve(root, key);
      if (path.dirname(folder) !== path.resolve(root)) continue;
      rmSync(folder, { recursive: true, force: true });
    }
    writeRecord(script.accountId, script.scriptName, { ...record, pendingDeletes: [] });
  }

  /** The script's Miniflare root, with its links to the account's shared storage. */
  function prepareDataDir(accountId: string, scriptName: string) {
    const root = scriptDataDir(dataDir, accountId, scriptName);
    mkdirSync(root, { recursive: true });
    for (const kind of SHARED_STORAGE) {
      const shared = path.join(accountDataDir(dataDir, accountId), kind);
      mkdirSync(shared, { recursive: true });
      const link = path.join(root, kind);
      if (!existsSync(link)) symlinkSync(path.relative(root, shared), link, "dir");
    }
  }

  /** Starts a version in a Miniflare of its own; rejects with `UploadRefused` when it does not start. */
  async function start(version: WorkerVersion, persist: boolean, quiet = false): Promise<Instance> {
    if (closed) throw new Error("the Worker host is closed");
    const storageKeys = persist ? readRecord(version.accountId, version.scriptName).keys : {};
    const workerOptions = miniflareOptionsFor(version, persist ? dataDir : undefined, storageKeys);
    if (persist) prepareDataDir(version.accountId, version.scriptName);
    // Loaded when a Worker first starts (about 0.4 s of one core), not when the target starts the host:
    // the target loads it once PostgreSQL is spawned, and a target with nothing deployed never needs it here.
    const { convertV4MiniflareOptions, Log, LogLevel, Miniflare } =
      require("miniflare") as typeof import("miniflare");
    // What Miniflare and workerd say while the version starts, for the refusal's message.
    let logged: string[] | undefined = [];
    const prefix = `[${version.scriptName}]`;
    class HostLog extends Log {
      protected override log(message: string) {
        logged?.push(message);
        if (!quiet) log(`${prefix} ${message}`);
      }
    }
    let mf: Miniflare;
    try {
      mf = new Miniflare(
        convertV4MiniflareOptions({
          host: "127.0.0.1",
          port: 0,
          cf: false,
          logRequests: false,
          log: new HostLog(LogLevel.WARN),
          handleStructuredLogs: ({ level, message }) => {
            if (level === "error" || level === "warn") logged?.push(message);
            if (!quiet) log(`${prefix} ${message}`);
          },
          ...workerOptions,
        } as V4MiniflareOptions),
      );
    } catch (error) {
      throw new UploadRefused(error instanceof Error ? error.message : String(error), REFUSED.module);
    }
    const ready = (async () => {
      try {
        const url = await mf.ready;
        return { mf, url: url.origin, version };
      } catch (error) {
        await mf.dispose().catch(() => undefined);
        throw new UploadRefused(startupError(error, logged ?? []), REFUSED.module);
      } finally {
        logged = undefined;
      }
    })();
    starting.add(ready);
    try {
      const instance = await ready;
      if (closed) {
        await stop(instance);
        throw new Error("the Worker host is closed");
      }
      return instance;
    } finally {
      starting.delete(ready);
    }
  }

  const stop = (instance: Instance) => instance.mf.dispose().catch(() => undefined);

  async function openProxy(script: Script): Promise<ScriptProxy> {
    const key = keyOf(script.accountId, script.scriptName);
    const saved = ports.get(key);
    let proxy: ScriptProxy | undefined;
    if (saved !== undefined) {
      try {
        proxy = await startScriptProxy({ port: saved });
      } catch (error) {
        log(`[${script.scriptName}] port ${saved} is taken (${(error as Error).message}); choosing another`);
      }
    }
    proxy ??= await startScriptProxy();
    if (proxy.port !== saved) {
      ports.set(key, proxy.port);
      writePortFile();
    }
    return proxy;
  }

  async function stopPreviews(script: Script) {
    const running = [...script.previews.values()].flatMap((p) => (p.running ? [p.running] : []));
    for (const p of script.previews.values()) p.running = undefined;
    await Promise.all(running.map((r) => r.then(stop, () => undefined)));
  }

  /** Starts a preview if it is not running, then disposes the least recently used beyond `maxPreviews`. */
  function runPreview(script: Script, preview: Preview): Promise<Instance> {
    preview.lastUsed = performance.now();
    if (preview.running) return preview.running;
    const running = start(preview.version, true);
    preview.running = running;
    running.catch(() => {
      if (preview.running === running) preview.running = undefined;
    });
    const live = [...script.previews.values()].filter((p) => p.running);
    live.sort((a, b) => a.lastUsed - b.lastUsed);
    for (const old of live.slice(0, Math.max(0, live.length - maxPreviews))) {
      const r = old.running;
      old.running = undefined;
      r?.then(stop, () => undefined);
    }
    return running;
  }

  function findPreview(script: Script, label: string): Preview | undefined {
    const versions = [...script.previews.values()];
    if (/^[0-9a-f]{8}$/.test(label)) {
      const byId = versions.find((p) => p.version.id.toLowerCase().startsWith(label));
      if (byId) return byId;
    }
    return versions
      .filter((p) => p.version.annotations["workers/alias"]?.toLowerCase() === label)
      .sort((a, b) => b.version.number - a.version.number)[0];
  }

  const notFound = () =>
    new Response(JSON.stringify(NOT_FOUND), { status: 404, headers: { "content-type": "application/json" } });

  return {
    async check(version) {
      const instance = await start(version, false, true);
      await stop(instance);
    },

    deploy(version) {
      const script = scriptOf(version.accountId, version.scriptName);
      return serial(script, async () => {
        if (!script.production) applyPendingDeletes(script);
        const instance = await start(version, true);
        try {
          script.proxy ??= await openProxy(script);
          if (closed) throw new Error("the Worker host is closed");
        } catch (error) {
          await stop(instance);
          await script.proxy?.close();
          throw error;
        }
        const proxy = script.proxy;
        const old = script.production;
        const pausedAt = performance.now();
        proxy.pause();
        try {
          if (old) {
            if (!(await proxy.drained(drainTimeoutMs))) {
              log(
                `[${version.scriptName}] ${proxy.inFlight} request(s) still in flight after ${drainTimeoutMs} ms`,
              );
            }
            proxy.dropSockets(old.url);
            await stop(old);
            applyPendingDeletes(script);
          }
          script.production = instance;
          proxy.setUpstream(instance.url);
        } finally {
          proxy.resume();
        }
        const held = Math.round(performance.now() - pausedAt);
        log(
          `[${version.scriptName}] version ${version.number} (${version.id}) deployed on ${proxy.url} (requests held ${held} ms)`,
        );
        options.onChange?.();
      });
    },

    migrate(accountId, scriptName, steps: MigrationStep[]) {
      const script = scriptOf(accountId, scriptName);
      return serial(script, async () => {
        for (const step of steps) {
          const transferred = step.transferred_classes ?? [];
          if (transferred.length > 0) {
            throw new UploadRefused(
              `transferred_classes (${transferred.map((t) => `${t.from_script}.${t.from} → ${t.to}`).join(", ")}): the stand-in does not move Durable Objects between scripts`,
              REFUSED.migration,
            );
          }
        }
        const record = readRecord(accountId, scriptName);
        const keyOfClass = (cls: string) => record.keys[cls] ?? defaultStorageKey(scriptName, cls);
        const taken = (key: string, except?: string) =>
          record.pendingDeletes.includes(key) ||
          Object.entries(record.keys).some(([cls, k]) => cls !== except && k === key);
        for (const step of steps) {
          for (const cls of [...(step.new_classes ?? []), ...(step.new_sqlite_classes ?? [])]) {
            // A new class whose default key still holds another class's data (renamed away, or deleted
            // and not yet removed) gets a fresh key: a class name cannot contain a dash.
            let key = keyOfClass(cls);
            for (let n = 2; taken(key, cls); n++) key = `${defaultStorageKey(scriptName, cls)}-${n}`;
            if (key !== defaultStorageKey(scriptName, cls)) record.keys[cls] = key;
          }
          for (const { from, to } of step.renamed_classes ?? []) {
            record.keys[to] = keyOfClass(from);
            delete record.keys[from];
          }
          for (const cls of step.deleted_classes ?? []) {
            record.pendingDeletes.push(keyOfClass(cls));
            delete record.keys[cls];
          }
        }
        writeRecord(accountId, scriptName, record);
        if (!script.production) applyPendingDeletes(script);
      });
    },

    preview(version) {
      const script = scriptOf(version.accountId, version.scriptName);
      if (!version.hasPreview) {
        log(`[${version.scriptName}] version ${version.id} has no preview (Durable Objects): not started`);
        return Promise.resolve();
      }
      return serial(script, async () => {
        const preview: Preview = script.previews.get(version.id) ?? { version, lastUsed: 0 };
        script.previews.set(version.id, preview);
        try {
          await runPreview(script, preview);
        } catch (error) {
          script.previews.delete(version.id);
          throw error;
        }
      });
    },

    async dispatch(request) {
      const hostHeader = request.headers.get("host") ?? new URL(request.url).host;
      const host = hostHeader.replace(/:\d+$/, "").replace(/\.$/, "").toLowerCase();
      const suffix = ".workers.dev";
      if (!host.endsWith(suffix)) return notFound();
      const rest = host.slice(0, -suffix.length);
      const dot = rest.indexOf(".");
      if (dot <= 0) return notFound();
      const label = rest.slice(0, dot);
      const subdomain = rest.slice(dot + 1);
      const candidates = [...scripts.values()].filter((s) => workersDevSubdomain(s.accountId) === subdomain);
      const production = candidates.find(
        (s) => s.scriptName.toLowerCase() === label && s.proxy && s.production,
      );
      if (production?.proxy) return forwardRequest(request, production.proxy.url);
      for (const script of candidates) {
        const name = script.scriptName.toLowerCase();
        if (!label.endsWith(`-${name}`)) continue;
        const preview = findPreview(script, label.slice(0, -name.length - 1));
        if (!preview) continue;
        const instance = await runPreview(script, preview);
        return forwardRequest(request, instance.url);
      }
      return notFound();
    },

    remove(accountId, scriptName) {
      const key = keyOf(accountId, scriptName);
      const script = scriptOf(accountId, scriptName);
      return serial(script, async () => {
        const wasDeployed = script.production !== undefined;
        await script.proxy?.close();
        script.proxy = undefined;
        if (script.production) await stop(script.production);
        script.production = undefined;
        await stopPreviews(script);
        script.previews.clear();
        scripts.delete(key);
        rmSync(scriptDataDir(dataDir, accountId, scriptName), { recursive: true, force: true });
        if (ports.delete(key)) writePortFile();
        log(`[${scriptName}] removed`);
        if (wasDeployed) options.onChange?.();
      });
    },

    urlOf(accountId, scriptName) {
      const script = scripts.get(keyOf(accountId, scriptName));
      return script?.production ? script.proxy?.url : undefined;
    },

    async close() {
      closed = true;
      const all = [...scripts.values()];
      scripts.clear();
      await Promise.all(
        all.map(async (script) => {
          await script.proxy?.close();
          if (script.production) await stop(script.production);
          script.production = undefined;
          await stopPreviews(script);
        }),
      );
      // Instances still starting stop themselves once ready (`closed`); wait for them.
      await Promise.all([...starting].map((s) => s.then(stop, () => undefined)));
    },
  };
}
