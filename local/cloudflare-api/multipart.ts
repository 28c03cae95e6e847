/**
 * Reading a Worker upload (`PUT /workers/scripts/:name`, `POST …/versions`): the multipart body as
 * wrangler builds it, its metadata, and the pure rules that turn it into a version — bindings resolved
 * against the previous version, Durable Object migrations applied to the classes the script declared.
 */
import { CloudflareApiError, checkModuleName, type ModuleContent } from "./store";
import type { MigrationStep, UploadBinding, UploadMigrations, VersionModule } from "./types";

/** The largest upload body the stand-in reads. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

/** The part of an upload's `metadata` the stand-in reads; other fields are kept in nothing. */
export interface UploadMetadata {
  main_module: string;
  bindings: Record<string, unknown>[];
  compatibility_date?: string;
  compatibility_flags?: string[];
  migrations?: UploadMigrations;
  keep_bindings?: string[];
  annotations?: Record<string, string>;
  logpush?: boolean;
  observability?: unknown;
  tail_consumers?: unknown[];
  streaming_tail_consumers?: unknown[];
  placement?: unknown;
  limits?: unknown;
}

export interface ParsedUpload {
  metadata: UploadMetadata;
  modules: ModuleContent[];
}

const MODULE_TYPES: Record<string, VersionModule["type"]> = {
  "application/javascript+module": "esm",
  "application/javascript": "commonjs",
  "text/javascript": "commonjs",
  "text/plain": "text",
  "application/octet-stream": "data",
  "application/wasm": "compiled-wasm",
  "application/source-map": "sourcemap",
};

/** A module's type from its part's content type (parameters and case ignored); undefined when unknown. */
export function moduleTypeOf(contentType: string): VersionModule["type"] | undefined {
  return MODULE_TYPES[contentType.split(";")[0]!.trim().toLowerCase()];
}

const badBody = (message: string) => new CloudflareApiError(400, 10012, message);
const badScript = (message: string) => new CloudflareApiError(400, 10021, message);
const badBinding = (message: string) => new CloudflareApiError(400, 10054, message);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringArray(value: unknown, field: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw badBody(`metadata.${field} must be an array of strings`);
  }
  return value as string[];
}

function readMetadata(raw: string): UploadMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw badBody(`the "metadata" part is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw badBody(`the "metadata" part must be a JSON object`);
  if (typeof parsed.main_module !== "string" || parsed.main_module === "") {
    throw badScript(
      parsed.body_part !== undefined
        ? `service-worker uploads (metadata.body_part) are not run by the stand-in: upload ES modules (metadata.main_module)`
        : `metadata.main_module is required: the name of the part that holds the Worker's main module`,
    );
  }
  const bindings = parsed.bindings ?? [];
  if (!Array.isArray(bindings)) throw badBody("metadata.bindings must be an array");
  const seen = new Set<string>();
  for (const [i, binding] of bindings.entries()) {
    if (!isObject(binding) || typeof binding.type !== "string" || typeof binding.name !== "string") {
      throw badBinding(`metadata.bindings[${i}] must be an object with a string "type" and "name"`);
    }
    if (seen.has(binding.name)) throw badBinding(`binding name "${binding.name}" is used twice`);
    seen.add(binding.name);
  }
  if (parsed.compatibility_date !== undefined && typeof parsed.compatibility_date !== "string") {
    throw badBody("metadata.compatibility_date must be a string (YYYY-MM-DD)");
  }
  if (parsed.migrations !== undefined && !isObject(parsed.migrations)) {
    throw badBody("metadata.migrations must be an object");
  }
  const annotations: Record<string, string> = {};
  if (parsed.annotations !== undefined) {
    if (!isObject(parsed.annotations)) throw badBody("metadata.annotations must be an object");
    for (const [key, value] of Object.entries(parsed.annotations)) {
      if (typeof value === "string") annotations[key] = value;
      else if (value !== null) throw badBody(`metadata.annotations["${key}"] must be a string`);
    }
  }
  return {
    ...(parsed as Partial<UploadMetadata>),
    main_module: parsed.main_module,
    bindings: bindings as Record<string, unknown>[],
    compatibility_flags: stringArray(parsed.compatibility_flags, "compatibility_flags"),
    keep_bindings: stringArray(parsed.keep_bindings, "keep_bindings"),
    annotations,
  };
}

/**
 * Reads an upload body: the `metadata` part (JSON) and one part per module, named by the module's path
 * and typed by its content type. Refuses, with Cloudflare's envelope codes, anything the stand-in cannot
 * run or store: no metadata, a service-worker upload, an unknown content type, a bad or repeated module
 * name, a main module that is not among the parts.
 */
export async function parseUploadForm(
  body: Uint8Array,
  contentType: string | undefined,
): Promise<ParsedUpload> {
  if (!contentType?.toLowerCase().startsWith("multipart/form-data")) {
    throw badBody(`a Worker upload must be multipart/form-data (got ${JSON.stringify(contentType ?? "")})`);
  }
  let form: FormData;
  try {
    form = await new Request("http://stand-in/", {
      method: "POST",
      body,
      headers: { "content-type": contentType },
    }).formData();
  } catch (error) {
    throw badBody(`the multipart body could not be read: ${(error as Error).message}`);
  }
  const rawMetadata = form.get("metadata");
  if (rawMetadata === null) throw badBody(`the upload has no "metadata" part`);
  const metadata = readMetadata(typeof rawMetadata === "string" ? rawMetadata : await rawMetadata.text());
  const modules: ModuleContent[] = [];
  for (const [name, value] of form.entries()) {
    if (name === "metadata") continue;
    checkModuleName(name);
    if (typeof value === "string") {
      throw badScript(
        `part "${name}" is not a file: every part but "metadata" must be a module with a content type`,
      );
    }
    const type = moduleTypeOf(value.type);
    if (!type) {
      throw badScript(
        `module "${name}" has content type ${JSON.stringify(value.type)}, which the stand-in does not run; use one of ${Object.keys(MODULE_TYPES).join(", ")}`,
      );
    }
    if (modules.some((m) => m.name === name)) throw badScript(`module "${name}" is uploaded twice`);
    modules.push({ name, type, content: new Uint8Array(await value.arrayBuffer()) });
  }
  const main = modules.find((m) => m.name === metadata.main_module);
  if (!main) {
    throw badScript(
      `metadata.main_module "${metadata.main_module}" is not among the uploaded parts (${modules.map((m) => m.name).join(", ") || "none"})`,
    );
  }
  if (main.type !== "esm" && main.type !== "commonjs") {
    throw badScript(
      `main module "${main.name}" must be JavaScript (application/javascript+module), not ${main.type}`,
    );
  }
  return { metadata, modules };
}

/**
 * The version's bindings: `inherit` ones replaced by the previous version's binding of that name, then
 * the previous version's bindings of the `keep_bindings` types that the upload does not name itself.
 */
export function resolveBindings(
  metadata: Pick<UploadMetadata, "bindings" | "keep_bindings">,
  previous: { id: string; bindings: UploadBinding[] } | undefined,
): UploadBinding[] {
  const out: UploadBinding[] = [];
  for (const binding of metadata.bindings) {
    const name = binding.name as string;
    if (binding.type !== "inherit") {
      out.push(binding as UploadBinding);
      continue;
    }
    if (!previous) {
      throw badBinding(
        `binding "${name}" is of type "inherit", but the script has no previous version to inherit it from`,
      );
    }
    const inherited = previous.bindings.find((b) => b.name === name);
    if (!inherited) {
      throw badBinding(
        `binding "${name}" is of type "inherit", but the previous version (${previous.id}) has no binding named "${name}"`,
      );
    }
    out.push(inherited);
  }
  const keep = new Set(metadata.keep_bindings ?? []);
  if (previous && keep.size > 0) {
    for (const binding of previous.bindings) {
      if (keep.has(binding.type) && !out.some((b) => b.name === binding.name)) out.push(binding);
    }
  }
  return out;
}

export type DurableObjectClass = { className: string; sqlite: boolean };

/** The steps of an upload's migrations: `steps`, or the one step written inline. */
export function migrationSteps(migrations: UploadMigrations): MigrationStep[] {
  if (migrations.steps) return migrations.steps;
  const { old_tag: _old, new_tag: _new, steps: _steps, ...inline } = migrations;
  return Object.keys(inline).length > 0 ? [inline] : [];
}

const tagName = (tag: string | undefined) => (tag ? `"${tag}"` : "none");

/** A Durable Object class name: a JavaScript identifier (it names an export, and a folder of the class's data). */
const CLASS_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;

/**
 * Refuses migrations whose shape is not Cloudflare's: tags are strings, `steps` a list of steps, each
 * class list a list of class names, each rename a `{from, to}` of class names. Names are checked before
 * anything uses them (they name folders of the class's data).
 */
export function checkMigrationsShape(migrations: unknown): asserts migrations is UploadMigrations {
  const refuse = (message: string) => new CloudflareApiError(400, 10074, `migrations: ${message}`);
  const isObject = (x: unknown): x is Record<string, unknown> =>
    typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObject(migrations)) throw refuse("must be an object");
  for (const tag of ["old_tag", "new_tag"] as const) {
    const value = migrations[tag];
    if (value !== undefined && value !== null && typeof value !== "string")
      throw refuse(`${tag} must be a string`);
  }
  const className = (value: unknown, where: string) => {
    if (typeof value !== "string" || !CLASS_NAME.test(value)) {
      throw refuse(`${where}: ${JSON.stringify(value)} is not a class name (a JavaScript identifier)`);
    }
  };
  const step = (value: unknown, where: string) => {
    if (!isObject(value)) throw refuse(`${where} must be an object`);
    for (const list of ["new_classes", "new_sqlite_classes", "deleted_classes"] as const) {
      const names = value[list];
      if (names === undefined) continue;
      if (!Array.isArray(names)) throw refuse(`${where}.${list} must be a list of class names`);
      for (const [i, n] of names.entries()) className(n, `${where}.${list}[${i}]`);
    }
    for (const list of ["renamed_classes", "transferred_classes"] as const) {
      const moves = value[list];
      if (moves === undefined) continue;
      if (!Array.isArray(moves)) throw refuse(`${where}.${list} must be a list`);
      moves.forEach((m, i) => {
        if (!isObject(m)) throw refuse(`${where}.${list}[${i}] must be an object`);
        className(m.from, `${where}.${list}[${i}].from`);
        className(m.to, `${where}.${list}[${i}].to`);
      });
    }
  };
  if (migrations.steps !== undefined) {
    if (!Array.isArray(migrations.steps)) throw refuse("steps must be a list");
    for (const [i, s] of migrations.steps.entries()) step(s, `steps[${i}]`);
  } else {
    step(migrations, "migrations");
  }
}

/**
 * Applies an upload's migrations to the script's state: `old_tag` must be the script's current tag
 * (Cloudflare's 10079 otherwise); answers the Durable Object classes and the tag after them, and the steps
 * the host has to apply. Class moves between scripts (`transferred_classes`) are refused.
 */
export function applyMigrations(
  migrations: UploadMigrations | undefined,
  current: { tag: string | undefined; classes: DurableObjectClass[] },
): { tag: string | undefined; classes: DurableObjectClass[]; steps: MigrationStep[] } {
  if (!migrations) return { tag: current.tag, classes: current.classes, steps: [] };
  checkMigrationsShape(migrations);
  const oldTag = migrations.old_tag || undefined;
  if (oldTag !== current.tag) {
    throw new CloudflareApiError(
      400,
      10079,
      `migrations old_tag is ${tagName(oldTag)}, but the script's current migration tag is ${tagName(current.tag)}: upload the migrations that follow ${tagName(current.tag)}`,
    );
  }
  const classes = current.classes.map((c) => ({ ...c }));
  const refuse = (message: string) => new CloudflareApiError(400, 10074, `migrations: ${message}`);
  const has = (name: string) => classes.some((c) => c.className === name);
  const steps = migrationSteps(migrations);
  for (const step of steps) {
    for (const [list, sqlite] of [
      [step.new_classes, false],
      [step.new_sqlite_classes, true],
    ] as const) {
      for (const className of list ?? []) {
        if (has(className)) throw refuse(`class "${className}" already exists and cannot be created again`);
        classes.push({ className, sqlite });
      }
    }
    for (const { from, to } of step.renamed_classes ?? []) {
      const found = classes.find((c) => c.className === from);
      if (!found) throw refuse(`cannot rename class "${from}": the script has no such class`);
      if (has(to)) throw refuse(`cannot rename class "${from}" to "${to}": "${to}" already exists`);
      found.className = to;
    }
    for (const className of step.deleted_classes ?? []) {
      if (!has(className)) throw refuse(`cannot delete class "${className}": the script has no such class`);
      classes.splice(
        classes.findIndex((c) => c.className === className),
        1,
      );
    }
    if (step.transferred_classes?.length) {
      throw refuse(
        "transferred_classes (moving a class from another script) are not supported by the stand-in",
      );
    }
  }
  return { tag: migrations.new_tag || current.tag, classes, steps };
}

/**
 * Refuses a Durable Object binding to a class of this script that its migrations do not declare
 * (Cloudflare's 10061). Bindings to another script's class are left to the host's check.
 */
export function checkDurableObjectBindings(
  scriptName: string,
  bindings: UploadBinding[],
  classes: DurableObjectClass[],
): void {
  for (const binding of bindings) {
    if (binding.type !== "durable_object_namespace") continue;
    const { class_name: className, script_name: other } = binding as {
      class_name?: unknown;
      script_name?: unknown;
    };
    if (other !== undefined && other !== scriptName) continue;
    if (typeof className !== "string" || !classes.some((c) => c.className === className)) {
      throw new CloudflareApiError(
        400,
        10061,
        `binding "${binding.name}" refers to Durable Object class ${JSON.stringify(className)}, which this script's migrations do not declare (declared: ${classes.map((c) => c.className).join(", ") || "none"}); add a migration with new_sqlite_classes = [${JSON.stringify(className)}]`,
      );
    }
  }
}
