// Lets plain `node -r ./local/register.cjs file.ts` run this project's TypeScript: each .ts file is
// transformed in place with esbuild (already a dependency), so __dirname and relative paths stay true.
// It starts in a fraction of the time a general-purpose loader takes, which keeps synth near a second.
// Transformed files are cached on disk by path, size and mtime, so a warm start does not run esbuild.
//
// It also keeps V8's compiled code of every CommonJS module the process loads (its own and its
// dependencies': the Pulumi SDK, Miniflare), as Node 22's module.enableCompileCache does and Node 20
// cannot: about a third of the time spent loading them is compiling, and a command runs the same modules
// every time. One file per entry script holds the code of the modules it loaded, all of it used only with
// the Node, V8 and loader it was made by; a module's code is used only while the file's size and mtime
// (and the compiled text's length) are those it was made from, and V8 itself refuses code made with other
// flags. A module that V8 cannot compile as a script (ES module syntax), that Node loads as an ES module,
// or that may call import() (see below) goes through Node's own loader.
const crypto = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const v8 = require("node:v8");
const vm = require("node:vm");

/**
 * `.cache` in the outermost `node_modules` this file is installed in (the project's own, when it runs
 * from the installed package), or in the repository's `node_modules` when it runs from source. The same
 * rule as `cacheBaseFor` in components/package-root.ts, which this loader cannot import (it loads first).
 */
function cacheBase() {
  const parts = __dirname.split(path.sep);
  const first = parts.indexOf("node_modules");
  if (first === -1) return path.join(__dirname, "..", "node_modules", ".cache");
  return path.join(parts.slice(0, first + 1).join(path.sep) || path.sep, ".cache");
}

const cacheDir = path.join(cacheBase(), "workers-platform-ts");
let esbuild;

function compile(source, filename) {
  esbuild ??= require("esbuild");
  return esbuild.transformSync(source, {
    loader: "ts",
    format: "cjs",
    target: "node20",
    sourcefile: filename,
    sourcemap: "inline",
  }).code;
}

require.extensions[".ts"] = (module, filename) => {
  const stat = fs.statSync(filename);
  const key = crypto.createHash("sha1").update(`${filename}\0${stat.size}\0${stat.mtimeMs}`).digest("hex");
  const cached = path.join(cacheDir, `${key}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, "utf8");
  } catch {
    code = compile(fs.readFileSync(filename, "utf8"), filename);
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      fs.writeFileSync(cached, code);
    } catch {
      // A read-only tree still runs; it only compiles again next time.
    }
  }
  module._compile(code, filename);
};

// --- V8 code cache -------------------------------------------------------------------------------------

const codeCacheFile = path.join(
  process.env.WORKERS_PLATFORM_CACHE_DIR || path.join(cacheBase(), "workers-platform"),
  "v8",
  `${crypto
    .createHash("sha1")
    .update(process.argv[1] ? path.resolve(process.argv[1]) : "[eval]")
    .digest("hex")}.bin`,
);
const codeCacheFingerprint = [
  process.version,
  process.arch,
  v8.cachedDataVersionTag(),
  fs.statSync(__filename).mtimeMs,
].join(" ");

/** filename → { stamp, data } as read from the cache file (loaded on the first compile). */
let known;
/** Modules compiled without usable cached code in this process: their code is saved at exit. */
const fresh = new Map();

function loadKnown() {
  known = new Map();
  try {
    const blob = fs.readFileSync(codeCacheFile);
    const headerLength = blob.readUInt32LE(0);
    const { fingerprint, entries } = JSON.parse(blob.subarray(4, 4 + headerLength).toString("utf8"));
    if (fingerprint !== codeCacheFingerprint) return;
    let offset = 4 + headerLength;
    for (const [filename, stamp, length] of entries) {
      known.set(filename, { stamp, data: blob.subarray(offset, offset + length) });
      offset += length;
    }
  } catch {
    // No cache yet, or an unreadable one: every module compiles as usual and the file is written anew.
  }
}

function saveFresh() {
  if (fresh.size === 0) return;
  const entries = [];
  const datas = [];
  for (const [filename, entry] of known) {
    if (fresh.has(filename)) continue;
    entries.push([filename, entry.stamp, entry.data.length]);
    datas.push(entry.data);
  }
  for (const [filename, { stamp, script }] of fresh) {
    const data = script.createCachedData();
    entries.push([filename, stamp, data.length]);
    datas.push(data);
  }
  const header = Buffer.from(JSON.stringify({ fingerprint: codeCacheFingerprint, entries }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length, 0);
  const temporary = `${codeCacheFile}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(codeCacheFile), { recursive: true });
    fs.writeFileSync(temporary, Buffer.concat([length, header, ...datas]));
    fs.renameSync(temporary, codeCacheFile);
  } catch {
    fs.rmSync(temporary, { force: true });
  }
}

function makeRequire(module) {
  const require = (id) => module.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, module, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, module);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

const nodeCompile = Module.prototype._compile;
Module.prototype._compile = function (content, filename, format) {
  // Node 20 loses a script's dynamic import() callback when it runs from cached code (a V8 bug fixed in
  // later Nodes): a module that may call import() is compiled by Node itself, without cached code.
  if (format === "module" || content.includes("import("))
    return nodeCompile.call(this, content, filename, format);
  if (known === undefined) {
    loadKnown();
    process.once("exit", saveFresh);
  }
  let stamp;
  try {
    const stat = fs.statSync(filename);
    stamp = `${stat.size}:${stat.mtimeMs}:${content.length}`;
  } catch {
    return nodeCompile.call(this, content, filename, format);
  }
  const entry = known.get(filename);
  const cachedData = entry?.stamp === stamp ? entry.data : undefined;
  // Same length as the hashbang it replaces, so that every position in the file stays where it was.
  const source = content.startsWith("#!") ? `//${content.slice(2)}` : content;
  let script;
  try {
    script = new vm.Script(Module.wrap(source), { filename, cachedData });
  } catch {
    return nodeCompile.call(this, content, filename, format);
  }
  if (cachedData === undefined || script.cachedDataRejected) fresh.set(filename, { stamp, script });
  const wrapper = script.runInThisContext({ displayErrors: true });
  return Reflect.apply(wrapper, this.exports, [
    this.exports,
    makeRequire(this),
    this,
    filename,
    path.dirname(filename),
  ]);
};
