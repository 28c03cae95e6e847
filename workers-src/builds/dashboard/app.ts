/**
 * The builds dashboard: the account's Workers, a Worker's triggers, deploy hooks and builds, and a build
 * with its live log. A page in the browser over the public REST API only; no framework, no build step:
 * the Client Worker serves these modules as they are compiled when the Worker is bundled.
 */
import {
  ApiFailure,
  type Build,
  call,
  type DeployHook,
  type EnvVar,
  forgetToken,
  get,
  type Page,
  query,
  SignInNeeded,
  savedToken,
  saveToken,
  type Trigger,
  takeTokenFromUrl,
  type Worker,
} from "./api.js";
import { LogView, streamLog } from "./log-view.js";

// ---------------------------------------------------------------------------------------------------------
// Elements

type Child = Node | string | null | undefined | false;
type Attr = string | number | boolean | null | undefined | ((event: Event) => void);

/** An element with attributes (`on…` are listeners; `true` is an empty attribute) and children as text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children)
    if (child !== null && child !== undefined && child !== false) el.append(child);
  return el;
}

/** Where pages go; each page draws into a view of its own inside it (see `render`). */
const root = document.getElementById("main") as HTMLElement;
const announcer = document.getElementById("announce") as HTMLElement;

/** Says something to screen readers (and shows it in the footer's status line). */
function announce(message: string): void {
  announcer.textContent = message;
}

function time(iso: string | null): Node {
  if (iso === null) return document.createTextNode("—");
  const date = new Date(iso);
  return h("time", { datetime: iso, title: iso }, date.toLocaleString());
}

function duration(from: string | null, to: string | null): string {
  if (from === null) return "";
  const ms = (to === null ? Date.now() : Date.parse(to)) - Date.parse(from);
  if (ms < 0) return "";
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** `running`, or the outcome of a stopped build (`success`, `failed`, …). */
function stateOf(build: Build): string {
  return build.status === "stopped" ? (build.build_outcome ?? "stopped") : build.status;
}

function badge(build: Build): HTMLElement {
  const state = stateOf(build);
  return h("span", { class: `badge s-${state}`, "data-state": state }, state);
}

const short = (id: string) => id.slice(0, 8);

/** The next page on a button's press: the button is disabled until it came (no page twice), errors said. */
async function loadMore(button: HTMLButtonElement, load: () => Promise<void>): Promise<void> {
  if (button.disabled) return;
  button.disabled = true;
  try {
    await load();
  } catch (error) {
    failed(error, (message) => announce(`Could not load more: ${message}`));
  } finally {
    button.disabled = false;
  }
}

/** A link to an http(s) URL a build reported; any other URL (`javascript:`, …) is shown as text only. */
function webLink(url: string): Node {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return document.createTextNode(url);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return document.createTextNode(url);
  return h("a", { href: parsed.href, target: "_blank", rel: "noopener noreferrer" }, url);
}

/** A path of this site to go back to after signing in: never another origin (`//host`, `/\\host`). */
export function sameSitePath(next: string | null): string {
  if (!next) return "/";
  try {
    const url = new URL(next, location.origin);
    if (url.origin !== location.origin || url.pathname === "/sign-in") return "/";
    return url.pathname + url.search;
  } catch {
    return "/";
  }
}

/**
 * A refreshed first page merged into a table: a row whose record changed is replaced, one that did not is
 * left alone (so that the reader's focus and selection stay where they were), new ones go on top. With
 * `whole` (no later page loaded), rows the page no longer has are removed.
 */
function mergeRows(
  body: HTMLTableSectionElement,
  rows: HTMLTableRowElement[],
  key: string,
  options: { whole?: boolean } = {},
): void {
  if (options.whole) {
    // The table shows only this page: a row the page no longer has was deleted.
    const keep = new Set(rows.map((r) => r.getAttribute(key)));
    for (const row of [...body.rows]) if (!keep.has(row.getAttribute(key))) row.remove();
  }
  const fresh: HTMLTableRowElement[] = [];
  for (const row of rows) {
    const old = body.querySelector<HTMLTableRowElement>(
      `tr[${key}="${CSS.escape(row.getAttribute(key) ?? "")}"]`,
    );
    if (!old) fresh.push(row);
    else if (old.dataset.sig !== row.dataset.sig) old.replaceWith(row);
    else {
      // Cells that change with time alone (a running build's duration) are updated in place.
      const live = row.querySelectorAll("[data-live]");
      old.querySelectorAll("[data-live]").forEach((cell, i) => {
        cell.textContent = live[i]?.textContent ?? "";
      });
    }
  }
  body.prepend(...fresh);
}

// ---------------------------------------------------------------------------------------------------------
// Navigation

let cleanups: (() => void)[] = [];

/**
 * Runs `cleanup` when the reader leaves the page drawn in `view`, or at once if the reader already left
 * (a page that was still loading when the reader moved on).
 */
function onLeave(view: HTMLElement, cleanup: () => void): void {
  if (view.isConnected) cleanups.push(cleanup);
  else cleanup();
}

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  void render();
}

/** Runs `task` every `ms` while the page in `view` is shown and the tab visible; one run at a time. */
function every(view: HTMLElement, ms: number, task: () => Promise<void>): void {
  let running = false;
  const timer = setInterval(async () => {
    if (running || document.hidden) return;
    running = true;
    try {
      await task();
    } catch (error) {
      if (!view.isConnected) return;
      failed(error, (message) => announce(`Could not refresh: ${message}`));
    } finally {
      running = false;
    }
  }, ms);
  onLeave(view, () => clearInterval(timer));
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A failed action: a reader no longer signed in goes to sign-in; otherwise the message is shown `where`. */
function failed(error: unknown, where: HTMLElement | ((message: string) => void)): void {
  if (error instanceof SignInNeeded) signInFor(error);
  else if (typeof where === "function") where(messageOf(error));
  else where.textContent = messageOf(error);
}

function signInFor(error: SignInNeeded): void {
  if (location.pathname === "/sign-in") return;
  const next = location.pathname + location.search;
  const reason = error.expired ? "expired" : savedToken() ? "refused" : "missing";
  forgetToken();
  navigate(`/sign-in${query({ next, reason })}`, true);
}

/** Each page draws into its view, which is taken out of the document when the reader leaves. */
const routes: [RegExp, (match: RegExpExecArray, view: HTMLElement) => Promise<void>][] = [
  [/^\/$/, (_, view) => workersPage(view)],
  [/^\/workers\/([^/]+)$/, (m, view) => workerPage(view, decodeURIComponent(m[1] as string))],
  [/^\/builds\/([^/]+)$/, (m, view) => buildPage(view, decodeURIComponent(m[1] as string))],
  [/^\/sign-in$/, (_, view) => signInPage(view)],
  [/^\/tokens$/, (_, view) => tokensPage(view)],
];

/** The path and query of the page drawn last. */
let shownPath = "";

async function render(): Promise<void> {
  shownPath = location.pathname + location.search;
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  const view = h("div", { class: "view" });
  root.replaceChildren(view);
  announce("");
  const path = location.pathname;
  const route = routes.map(([re, page]) => [re.exec(path), page] as const).find(([m]) => m !== null);
  try {
    if (!route) throw new ApiFailure(404, [`no page at ${path}`]);
    await route[1](route[0] as RegExpExecArray, view);
  } catch (error) {
    // A page the reader already left fails quietly: its view is out of the document.
    if (!view.isConnected) return;
    if (error instanceof SignInNeeded) return signInFor(error);
    view.replaceChildren(errorPage(error));
  }
  if (!view.isConnected) return;
  const heading = view.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
    document.title = `${heading.textContent} · Builds`;
  }
}

function errorPage(error: unknown): HTMLElement {
  if (error instanceof ApiFailure && error.status === 404) {
    return h(
      "section",
      {},
      h("h1", {}, "Not found"),
      h("p", { role: "alert" }, error.message),
      h("p", {}, h("a", { href: "/" }, "Back to your Workers")),
    );
  }
  return h("section", {}, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, messageOf(error)));
}

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = (event.target as Element).closest("a");
  if (!link || link.origin !== location.origin || link.target || link.hasAttribute("download")) return;
  // A link within this page (the skip link): the browser's own jump.
  if (link.hash && link.pathname === location.pathname && link.search === location.search) return;
  if (/^\/(api|webhooks|hooks)\//.test(link.pathname)) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});
// A jump to a fragment (the skip link) fires popstate too: only a change of page draws the page again.
window.addEventListener("popstate", () => {
  if (location.pathname + location.search !== shownPath) void render();
});

// ---------------------------------------------------------------------------------------------------------
// Forms

interface Field {
  name: string;
  label: string;
  kind?: "text" | "checkbox" | "lines" | "password";
  hint?: string;
  value?: string | boolean;
  required?: boolean;
}

/** A form whose fields show the API's messages (`field: message`) beside them. */
function apiForm(
  id: string,
  fields: Field[],
  submitLabel: string,
  submit: (values: Record<string, string | boolean | string[]>) => Promise<void>,
): HTMLFormElement {
  const errors = new Map<string, HTMLElement>();
  const general = h("p", { class: "form-error", role: "alert", id: `${id}-error` });
  const rows = fields.map((f) => {
    const inputId = `${id}-${f.name}`;
    const error = h("span", { class: "field-error", id: `${inputId}-error` });
    errors.set(f.name, error);
    const described = [f.hint ? `${inputId}-hint` : "", `${inputId}-error`].filter(Boolean).join(" ");
    const input =
      f.kind === "checkbox"
        ? h("input", {
            type: "checkbox",
            id: inputId,
            name: f.name,
            checked: f.value === true,
            "aria-describedby": described,
          })
        : f.kind === "lines"
          ? h(
              "textarea",
              { id: inputId, name: f.name, rows: 2, "aria-describedby": described },
              String(f.value ?? ""),
            )
          : h("input", {
              type: f.kind === "password" ? "password" : "text",
              id: inputId,
              name: f.name,
              value: String(f.value ?? ""),
              required: f.required,
              autocomplete: "off",
              spellcheck: "false",
              "aria-describedby": described,
            });
    return h(
      "div",
      { class: `field${f.kind === "checkbox" ? " check" : ""}` },
      h("label", { for: inputId }, f.label),
      input,
      f.hint ? h("small", { id: `${inputId}-hint` }, f.hint) : null,
      error,
    );
  });
  const button = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { id, novalidate: true }, ...rows, general, h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const e of errors.values()) e.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    general.textContent = "";
    const values: Record<string, string | boolean | string[]> = {};
    for (const f of fields) {
      const input = form.elements.namedItem(f.name) as HTMLInputElement | HTMLTextAreaElement;
      if (f.kind === "checkbox") values[f.name] = (input as HTMLInputElement).checked;
      else if (f.kind === "lines")
        values[f.name] = input.value
          .split("\n")
          .map((s) => s.trim())
          .filter(Boolean);
      else values[f.name] = input.value.trim();
    }
    button.disabled = true;
    try {
      await submit(values);
    } catch (error) {
      if (error instanceof SignInNeeded) return signInFor(error);
      if (!(error instanceof ApiFailure)) {
        general.textContent = messageOf(error);
        return;
      }
      const rest: string[] = [];
      for (const message of error.messages) {
        const field = /^([a-z_]+)(?:[.[][^:]*)?: /.exec(message)?.[1];
        const slot = field ? errors.get(field) : undefined;
        if (slot) {
          slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
          form.elements.namedItem(field as string) &&
            (form.elements.namedItem(field as string) as HTMLElement).setAttribute("aria-invalid", "true");
        } else rest.push(message);
      }
      general.textContent = rest.join("; ");
      const firstInvalid = form.querySelector<HTMLElement>("[aria-invalid]");
      (firstInvalid ?? general).focus?.();
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** A one-time secret (a deploy hook's URL, a webhook secret): shown once, with a copy button. */
function shownOnce(label: string, value: string): HTMLElement {
  const field = h("input", { type: "text", readonly: true, value, "aria-label": label, class: "secret" });
  return h(
    "div",
    { class: "once", role: "status" },
    h("p", {}, h("strong", {}, label), " — shown once; copy it now."),
    field,
    h(
      "button",
      {
        type: "button",
        onclick: async () => {
          field.select();
          await navigator.clipboard?.writeText(value).catch(() => undefined);
          announce(`${label} copied`);
        },
      },
      "Copy",
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Workers

async function workersPage(main: HTMLElement): Promise<void> {
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "More Workers");
  let cursor: string | null = null;
  const rowOf = (w: Worker) => {
    const b = w.last_build ?? null;
    return h(
      "tr",
      { "data-worker": w.name, "data-sig": JSON.stringify(b) },
      h("th", { scope: "row" }, h("a", { href: `/workers/${encodeURIComponent(w.name)}` }, w.name)),
      h(
        "td",
        {},
        b
          ? h(
              "a",
              {
                href: `/builds/${b.build_uuid}`,
                "aria-label": `build ${short(b.build_uuid)}: ${stateOf(b)}`,
              },
              badge(b),
            )
          : "no builds yet",
      ),
      h("td", {}, b ? b.branch : ""),
      h("td", {}, b ? time(b.created_at) : ""),
    );
  };
  let loadedPages = 0;
  const load = async (append: boolean) => {
    const page: Page<Worker[]> = await call<Worker[]>(
      "GET",
      `/api/workers${query({ cursor: append ? cursor : null })}`,
    );
    if (append) {
      body.append(...page.result.map(rowOf));
      cursor = page.cursor;
      loadedPages++;
    } else {
      mergeRows(body, page.result.map(rowOf), "data-worker", { whole: loadedPages <= 1 });
      if (loadedPages === 0) {
        cursor = page.cursor;
        loadedPages = 1;
      }
    }
    more.hidden = cursor === null;
    empty.hidden = body.rows.length > 0;
  };
  const empty = h("p", { hidden: true }, "No Workers yet: add one below, then a trigger for its repository.");
  more.addEventListener("click", () => loadMore(more, () => load(true)));
  const create = apiForm(
    "new-worker",
    [{ name: "name", label: "Worker name", required: true }],
    "Add Worker",
    async (v) => {
      const { result } = await call<Worker>("POST", "/api/workers", { name: v.name });
      navigate(`/workers/${encodeURIComponent(result.name)}`);
    },
  );
  main.append(
    h("h1", {}, "Workers"),
    h(
      "table",
      {},
      h("caption", {}, "Your Workers and their latest build"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Worker"),
          h("th", { scope: "col" }, "Last build"),
          h("th", { scope: "col" }, "Branch"),
          h("th", { scope: "col" }, "Started"),
        ),
      ),
      body,
    ),
    empty,
    more,
    h(
      "section",
      { "aria-labelledby": "new-worker-h" },
      h("h2", { id: "new-worker-h" }, "Add a Worker"),
      create,
    ),
  );
  await load(false);
  every(main, 3000, () => load(false));
}

// ---------------------------------------------------------------------------------------------------------
// A Worker

const TRIGGER_FIELDS = (t?: Trigger): Field[] => [
  {
    name: "repo_url",
    label: "Repository URL",
    value: t?.repo_url,
    required: true,
    hint: "https://github.com/owner/repo or a GitLab URL",
  },
  {
    name: "production_branch",
    label: "Production branch",
    value: t?.production_branch ?? "main",
    required: true,
  },
  {
    name: "build_non_production_branches",
    label: "Build other branches (preview versions)",
    kind: "checkbox",
    value: t?.build_non_production_branches ?? false,
  },
  {
    name: "build_command",
    label: "Build command",
    value: t?.build_command ?? "",
    hint: "Empty: no build step",
  },
  { name: "deploy_command", label: "Deploy command", value: t?.deploy_command ?? "npx wrangler deploy" },
  {
    name: "non_production_deploy_command",
    label: "Non-production deploy command",
    value: t?.non_production_deploy_command ?? "npx wrangler versions upload",
  },
  {
    name: "root_directory",
    label: "Root directory",
    value: t?.root_directory ?? "",
    hint: "Empty: the repository's root",
  },
  {
    name: "path_includes",
    label: "Build when these paths change",
    kind: "lines",
    value: (t?.path_includes ?? ["*"]).join("\n"),
    hint: "One pattern per line",
  },
  {
    name: "path_excludes",
    label: "Never build for these paths",
    kind: "lines",
    value: (t?.path_excludes ?? []).join("\n"),
    hint: "One pattern per line",
  },
  {
    name: "build_caching_enabled",
    label: "Build cache",
    kind: "checkbox",
    value: t?.build_caching_enabled ?? true,
  },
];

/** The trigger form's values as the API takes them (an empty build command is none). */
function triggerBody(v: Record<string, string | boolean | string[]>): Record<string, unknown> {
  return { ...v, build_command: v.build_command === "" ? null : v.build_command };
}

async function workerPage(main: HTMLElement, ref: string): Promise<void> {
  const worker = await get<Worker>(`/api/workers/${encodeURIComponent(ref)}`);
  const triggers = h("div", { class: "triggers" });
  const builds = buildHistory(worker);
  const showTriggers = async () => {
    const list = await get<Trigger[]>(`/api/workers/${worker.id}/triggers`);
    triggers.replaceChildren(
      ...(list.length === 0 ? [h("p", {}, "No triggers: add one to build on every push.")] : []),
      ...(await Promise.all(list.map((t) => triggerCard(t, showTriggers)))),
    );
  };
  const created = h("div");
  const createForm = apiForm("new-trigger", TRIGGER_FIELDS(), "Add trigger", async (v) => {
    const { result } = await call<Trigger>("POST", `/api/workers/${worker.id}/triggers`, triggerBody(v));
    created.replaceChildren(
      h(
        "p",
        {},
        `Trigger added. Point ${result.provider === "gitlab" ? "GitLab" : "GitHub"}'s push webhook at ${location.origin}${result.webhook_url_path} with this secret:`,
      ),
      result.webhook_secret ? shownOnce("Webhook secret", result.webhook_secret) : "",
    );
    createForm.reset();
    await showTriggers();
  });
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "/" }, "Workers"), " / ", worker.name),
    h("h1", {}, worker.name),
    h("section", { "aria-labelledby": "builds-h" }, h("h2", { id: "builds-h" }, "Builds"), builds.element),
    h(
      "section",
      { "aria-labelledby": "triggers-h" },
      h("h2", { id: "triggers-h" }, "Triggers"),
      triggers,
      h("details", {}, h("summary", {}, "Add a trigger"), createForm),
      created,
    ),
  );
  await Promise.all([showTriggers(), builds.load(false)]);
  every(main, 2000, () => builds.load(false));
}

async function triggerCard(t: Trigger, refresh: () => Promise<void>): Promise<HTMLElement> {
  const hooks = await get<DeployHook[]>(`/api/triggers/${t.id}/deploy_hooks`);
  const shown = h("div");
  const editForm = apiForm(`edit-${short(t.id)}`, TRIGGER_FIELDS(t), "Save trigger", async (v) => {
    await call("PATCH", `/api/triggers/${t.id}`, triggerBody(v));
    announce("Trigger saved");
    await refresh();
  });
  const hookForm = apiForm(
    `hook-${short(t.id)}`,
    [
      { name: "name", label: "Hook name", required: true },
      { name: "branch", label: "Branch to build", hint: `Empty: ${t.production_branch}` },
    ],
    "Add deploy hook",
    async (v) => {
      const { result } = await call<DeployHook>("POST", `/api/triggers/${t.id}/deploy_hooks`, {
        name: v.name,
        ...(v.branch ? { branch: v.branch } : {}),
      });
      await refresh();
      announce("Deploy hook added; its URL is shown once");
      document
        .getElementById(`once-${t.id}`)
        ?.replaceChildren(shownOnce("Deploy hook URL", `${location.origin}${result.url_path}`));
    },
  );
  const build = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        try {
          const { result } = await call<Build>("POST", `/api/triggers/${t.id}/builds`, {});
          navigate(`/builds/${result.build_uuid}`);
        } catch (error) {
          failed(error, shown);
        }
      },
    },
    `Build ${t.production_branch} now`,
  );
  return h(
    "article",
    { class: "trigger", "aria-label": `trigger for ${t.repo_url}` },
    h("h3", {}, t.repo_url),
    h(
      "dl",
      {},
      h("dt", {}, "Production branch"),
      h("dd", {}, t.production_branch),
      h("dt", {}, "Other branches"),
      h("dd", {}, t.build_non_production_branches ? "built as previews" : "not built"),
      h("dt", {}, "Commands"),
      h("dd", {}, h("code", {}, [t.build_command, t.deploy_command].filter(Boolean).join(" && "))),
      h("dt", {}, "Variables"),
      h(
        "dd",
        {},
        t.env_vars.length === 0
          ? "none"
          : t.env_vars.map((e) => `${e.name}${e.type === "secret" ? " (secret)" : ""}`).join(", "),
      ),
    ),
    h("div", { class: "actions" }, build),
    shown,
    h("details", {}, h("summary", {}, "Edit trigger"), editForm),
    h("details", {}, h("summary", {}, "Edit variables"), variablesForm(t, refresh)),
    h(
      "section",
      { "aria-label": "deploy hooks" },
      h("h4", {}, "Deploy hooks"),
      hooks.length === 0
        ? h("p", {}, "None.")
        : h(
            "ul",
            { class: "hooks" },
            ...hooks.map((hook) =>
              h(
                "li",
                {},
                `${hook.name} → ${hook.branch} `,
                h(
                  "button",
                  {
                    type: "button",
                    class: "quiet",
                    "aria-label": `Delete deploy hook ${hook.name}`,
                    onclick: async () => {
                      if (!confirm(`Delete deploy hook ${hook.name}? Its URL stops working.`)) return;
                      try {
                        await call("DELETE", `/api/deploy_hooks/${hook.id}`);
                        announce(`Deploy hook ${hook.name} deleted`);
                        await refresh();
                      } catch (e) {
                        failed(e, shown);
                      }
                    },
                  },
                  "Delete",
                ),
              ),
            ),
          ),
      h("div", { id: `once-${t.id}` }),
      h("details", {}, h("summary", {}, "Add a deploy hook"), hookForm),
    ),
  );
}

/**
 * A trigger's build variables: one row each (name, text or secret, value), rows added and removed, saved
 * as the whole list. A stored secret's value is never shown: left empty, it keeps the stored one.
 */
function variablesForm(t: Trigger, refresh: () => Promise<void>): HTMLFormElement {
  const id = `vars-${short(t.id)}`;
  const rows = h("div", { class: "vars" });
  const error = h("p", { class: "form-error", role: "alert" });
  let serial = 0;
  const addRow = (v?: EnvVar) => {
    const n = ++serial;
    const name = h("input", {
      type: "text",
      id: `${id}-name-${n}`,
      value: v?.name ?? "",
      autocomplete: "off",
      spellcheck: "false",
    });
    const type = h(
      "select",
      { id: `${id}-type-${n}` },
      h("option", { value: "text", selected: v?.type !== "secret" }, "text"),
      h("option", { value: "secret", selected: v?.type === "secret" }, "secret"),
    );
    const storedSecret = v?.type === "secret";
    const value = h("input", {
      type: storedSecret ? "password" : "text",
      id: `${id}-value-${n}`,
      value: v?.value ?? "",
      placeholder: storedSecret ? "unchanged" : "",
      autocomplete: "off",
      spellcheck: "false",
    });
    const row = h(
      "div",
      { class: "var", "data-stored-secret": storedSecret ? "true" : null },
      h("label", { for: name.id }, "Name"),
      name,
      h("label", { for: type.id }, "Type"),
      type,
      h("label", { for: value.id }, "Value"),
      value,
      h(
        "button",
        {
          type: "button",
          class: "quiet",
          "aria-label": v ? `Remove variable ${v.name}` : "Remove this new variable",
          onclick: () => row.remove(),
        },
        "Remove",
      ),
    );
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", v ? `variable ${v.name}` : "new variable");
    rows.append(row);
  };
  for (const v of t.env_vars) addRow(v);
  const form = h(
    "form",
    { id, novalidate: true },
    rows,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => addRow() }, "Add variable"),
      h("button", { type: "submit" }, "Save variables"),
    ),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const vars = [...rows.querySelectorAll<HTMLElement>(".var")].map((row) => {
      const [name, type, value] = [
        ...row.querySelectorAll<HTMLInputElement | HTMLSelectElement>("input, select"),
      ];
      const keep = row.dataset.storedSecret === "true" && type!.value === "secret" && value!.value === "";
      return { name: name!.value.trim(), type: type!.value, value: keep ? null : value!.value };
    });
    try {
      await call("PATCH", `/api/triggers/${t.id}`, { env_vars: vars });
      announce("Variables saved");
      await refresh();
    } catch (e) {
      failed(e, error);
    }
  });
  return form;
}

/** A Worker's builds, newest first: filters, pages, and a refresh that adds new builds at the top. */
function buildHistory(worker: Worker): { element: HTMLElement; load: (append: boolean) => Promise<void> } {
  const url = new URL(location.href);
  const filters = {
    status: url.searchParams.get("status") ?? "",
    branch: url.searchParams.get("branch") ?? "",
  };
  const body = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Older builds");
  const empty = h("p", { hidden: true }, "No builds match.");
  const error = h("p", { class: "form-error", role: "alert" });
  let cursor: string | null = null;
  let loadedPages = 0;
  const rowOf = (b: Build) =>
    h(
      "tr",
      { "data-build": b.build_uuid, "data-sig": JSON.stringify(b) },
      h(
        "td",
        {},
        h(
          "a",
          { href: `/builds/${b.build_uuid}`, "aria-label": `build ${short(b.build_uuid)}: ${stateOf(b)}` },
          badge(b),
        ),
      ),
      h("td", {}, b.branch, b.production ? h("span", { class: "tag" }, "production") : ""),
      h(
        "td",
        {},
        b.commit_hash ? h("code", {}, b.commit_hash.slice(0, 7)) : "",
        " ",
        b.commit_message ? b.commit_message.split("\n")[0] : "",
      ),
      h("td", {}, b.source),
      h("td", {}, time(b.created_at)),
      h("td", { "data-live": true }, duration(b.running_at ?? b.initializing_at, b.stopped_at)),
    );
  // A change of filters starts a new generation: an answer asked for under the old filters is dropped.
  let generation = 0;
  const load = async (append: boolean) => {
    const asked = generation;
    const q = query({ status: filters.status, branch: filters.branch, cursor: append ? cursor : null });
    let page: Page<Build[]>;
    try {
      page = await call<Build[]>("GET", `/api/workers/${worker.id}/builds${q}`);
    } catch (e) {
      if (asked !== generation) return;
      if (e instanceof ApiFailure && e.status === 400) {
        error.textContent = e.message;
        return;
      }
      throw e;
    }
    if (asked !== generation) return;
    error.textContent = "";
    const rows = page.result.map(rowOf);
    if (append) {
      body.append(...rows);
      cursor = page.cursor;
      loadedPages++;
    } else {
      mergeRows(body, rows, "data-build");
      if (loadedPages === 0) {
        cursor = page.cursor;
        loadedPages = 1;
      }
    }
    more.hidden = cursor === null;
    empty.hidden = body.rows.length > 0;
  };
  more.addEventListener("click", () => loadMore(more, () => load(true)));
  const status = h(
    "select",
    { id: "filter-status", name: "status" },
    ...["", "queued", "initializing", "running", "stopped"].map((s) =>
      h("option", { value: s, selected: s === filters.status }, s === "" ? "any" : s),
    ),
  );
  const branch = h("input", {
    id: "filter-branch",
    name: "branch",
    type: "text",
    value: filters.branch,
    autocomplete: "off",
  });
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "filter builds" },
    h("label", { for: "filter-status" }, "Status"),
    status,
    h("label", { for: "filter-branch" }, "Branch"),
    branch,
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters.status = status.value;
    filters.branch = branch.value.trim();
    history.replaceState(null, "", `${location.pathname}${query(filters)}`);
    body.replaceChildren();
    cursor = null;
    loadedPages = 0;
    generation++;
    void load(false).catch((e) => {
      failed(e, error);
    });
  });
  const element = h(
    "div",
    {},
    form,
    error,
    h(
      "table",
      { class: "builds" },
      h("caption", {}, `Builds of ${worker.name}, newest first`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Status", "Branch", "Commit", "Source", "Started", "Took"].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      body,
    ),
    empty,
    more,
  );
  return { element, load };
}

// ---------------------------------------------------------------------------------------------------------
// A build

async function buildPage(main: HTMLElement, uuid: string): Promise<void> {
  let build = await get<Build>(`/api/builds/${encodeURIComponent(uuid)}`);
  const worker = await get<Worker>(`/api/workers/${build.worker_id}`);
  const header = h("div", { class: "build-head" });
  const facts = h("dl", { class: "facts" });
  const timeline = h("ol", { class: "timeline", "aria-label": "status timeline" });
  const cancel = h("button", { type: "button", id: "cancel" }, "Cancel build");
  const retry = h("button", { type: "button", id: "retry" }, "Retry build");
  const actionStatus = h("p", { class: "form-error", role: "alert" });
  // The heading stays (the page focuses it) and only its badge changes; the facts, which hold links a
  // keyboard reader may be on, are drawn again only when what they show changed.
  const state = h("span");
  header.append(h("h1", {}, `Build ${short(build.build_uuid)} `, state));
  let drawn = "";
  const draw = () => {
    state.replaceChildren(badge(build));
    const url = build.deployment_url ?? build.preview_url;
    const sig = JSON.stringify([
      build.branch,
      build.production,
      build.commit_hash,
      build.commit_message,
      build.source,
      build.failure_class,
      url,
    ]);
    const same = sig === drawn;
    drawn = sig;
    if (!same)
      facts.replaceChildren(
        h("dt", {}, "Worker"),
        h("dd", {}, h("a", { href: `/workers/${encodeURIComponent(worker.name)}` }, worker.name)),
        h("dt", {}, "Branch"),
        h(
          "dd",
          {},
          build.branch,
          build.production
            ? h("span", { class: "tag" }, "production")
            : h("span", { class: "tag" }, "preview"),
        ),
        h("dt", {}, "Commit"),
        h(
          "dd",
          {},
          build.commit_hash ? h("code", {}, build.commit_hash) : "branch head",
          build.commit_message ? ` ${build.commit_message.split("\n")[0]}` : "",
        ),
        h("dt", {}, "Started by"),
        h("dd", {}, build.source),
        ...(build.failure_class
          ? [h("dt", {}, "Failure"), h("dd", { class: "failure" }, build.failure_class)]
          : []),
        ...(url
          ? [h("dt", {}, build.deployment_url ? "Deployed to" : "Preview"), h("dd", {}, webLink(url))]
          : []),
      );
    const steps: [string, string | null][] = [
      ["queued", build.created_at],
      ["initializing", build.initializing_at],
      ["running", build.running_at],
      [build.status === "stopped" ? (build.build_outcome ?? "stopped") : "stopped", build.stopped_at],
    ];
    timeline.replaceChildren(
      ...steps.map(([name, at], i) => {
        const later = steps.slice(i + 1).find(([, t]) => t !== null)?.[1] ?? null;
        const current = at !== null && later === null && build.status !== "stopped";
        const took = at === null || i === steps.length - 1 ? "" : duration(at, later);
        return h(
          "li",
          { class: at === null ? "pending" : "done", "aria-current": current ? "step" : null },
          h("span", { class: "step" }, name),
          " ",
          at === null ? "—" : time(at),
          took ? h("span", { class: "took" }, ` (${took})`) : "",
        );
      }),
    );
    cancel.disabled = build.status === "stopped";
    retry.disabled = build.status !== "stopped" || build.trigger_id === null;
  };
  const refresh = async () => {
    build = await get<Build>(`/api/builds/${encodeURIComponent(uuid)}`);
    draw();
  };
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    actionStatus.textContent = "";
    try {
      const { result } = await call<Build>("PUT", `/api/builds/${build.build_uuid}/cancel`);
      build = { ...build, ...result };
      draw();
      announce("Build cancelled");
    } catch (error) {
      if (error instanceof SignInNeeded) return signInFor(error);
      actionStatus.textContent = messageOf(error);
      await refresh();
    }
  });
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    actionStatus.textContent = "";
    try {
      const { result } = await call<Build>("POST", `/api/builds/${build.build_uuid}/retry`);
      navigate(`/builds/${result.build_uuid}`);
    } catch (error) {
      if (error instanceof SignInNeeded) return signInFor(error);
      actionStatus.textContent = messageOf(error);
      retry.disabled = false;
    }
  });

  const box = h("div", {
    id: "log",
    class: "log",
    role: "log",
    tabindex: 0,
    "aria-label": "Build log",
    "aria-live": "off",
  });
  const view = new LogView(box);
  const streamState = h("span", { id: "stream-state", role: "status" }, "Connecting…");
  const follow = h("button", { type: "button", id: "follow", hidden: true }, "Follow the end");
  follow.addEventListener("click", () => view.follow());
  view.onFollowChange = (following) => {
    follow.hidden = following;
  };
  const download = h(
    "button",
    {
      type: "button",
      id: "download",
      onclick: () => {
        const blob = new Blob([view.text()], { type: "text/plain;charset=utf-8" });
        const link = h("a", { href: URL.createObjectURL(blob), download: `build-${build.build_uuid}.log` });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(link.href), 1000);
      },
    },
    "Download log",
  );
  draw();
  main.append(
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "/" }, "Workers"),
      " / ",
      h("a", { href: `/workers/${encodeURIComponent(worker.name)}` }, worker.name),
      " / ",
      short(build.build_uuid),
    ),
    header,
    facts,
    timeline,
    h("div", { class: "actions" }, cancel, retry),
    actionStatus,
    h(
      "section",
      { "aria-labelledby": "log-h", class: "log-section" },
      h(
        "div",
        { class: "log-bar" },
        h("h2", { id: "log-h" }, "Log"),
        streamState,
        h("span", { class: "spacer" }),
        follow,
        download,
      ),
      box,
    ),
  );

  const abort = new AbortController();
  onLeave(main, () => {
    abort.abort();
    view.dispose();
  });
  void streamLog(
    build.build_uuid,
    {
      line: (line) => view.append(line),
      connected: () => {
        streamState.textContent = build.status === "stopped" ? "Reading…" : "Streaming";
      },
      reconnecting: (ms, reason) => {
        streamState.textContent = `Connection lost (${reason}); reconnecting in ${Math.round(ms / 100) / 10} s…`;
      },
      done: (end) => {
        streamState.textContent = `Ended: ${end.build_outcome ?? end.status} · ${view.lines.length} lines`;
        box.dataset.done = "true";
        void refresh().catch(() => undefined);
      },
      signIn: (error) => signInFor(error),
      failed: (message) => {
        streamState.textContent = `Log unavailable: ${message}`;
      },
    },
    abort.signal,
  );
  every(main, 2000, async () => {
    if (build.status !== "stopped") await refresh();
  });
}

// ---------------------------------------------------------------------------------------------------------
// API tokens

interface ApiToken {
  id: string;
  name: string;
  scope: "read" | "write";
  created_at: string;
  last_used_at: string | null;
  token?: string;
}

async function tokensPage(main: HTMLElement): Promise<void> {
  const body = h("tbody");
  const shown = h("div");
  const error = h("p", { class: "form-error", role: "alert" });
  const draw = async () => {
    const tokens = await get<ApiToken[]>("/api/tokens");
    body.replaceChildren(
      ...tokens.map((t) =>
        h(
          "tr",
          { "data-token": t.name },
          h("th", { scope: "row" }, t.name),
          h("td", {}, t.scope),
          h("td", {}, time(t.created_at)),
          h("td", {}, t.last_used_at === null ? "never" : time(t.last_used_at)),
          h(
            "td",
            {},
            h(
              "button",
              {
                type: "button",
                class: "quiet",
                "aria-label": `Revoke API token ${t.name}`,
                onclick: async () => {
                  if (!confirm(`Revoke API token ${t.name}? Whatever uses it is refused from now on.`))
                    return;
                  try {
                    await call("DELETE", `/api/tokens/${t.id}`);
                    announce(`API token ${t.name} revoked`);
                    await draw();
                  } catch (e) {
                    failed(e, error);
                  }
                },
              },
              "Revoke",
            ),
          ),
        ),
      ),
    );
    empty.hidden = tokens.length > 0;
  };
  const empty = h("p", { hidden: true }, "No API tokens.");
  const scope = h(
    "select",
    { id: "new-token-scope", name: "scope" },
    h("option", { value: "read" }, "read: GET requests only"),
    h("option", { value: "write" }, "write: everything"),
  );
  const form = apiForm(
    "new-token",
    [{ name: "name", label: "Token name", required: true, hint: "What uses it, e.g. ci or grafana" }],
    "Create token",
    async (v) => {
      const { result } = await call<ApiToken>("POST", "/api/tokens", { name: v.name, scope: scope.value });
      shown.replaceChildren(shownOnce(`API token ${result.name}`, result.token ?? ""));
      form.reset();
      await draw();
    },
  );
  form
    .querySelector(".actions")
    ?.before(h("div", { class: "field" }, h("label", { for: "new-token-scope" }, "Scope"), scope));
  main.append(
    h("h1", {}, "API tokens"),
    h(
      "p",
      {},
      "Long-lived tokens for scripts and CI: send one as ",
      h("code", {}, "Authorization: Bearer wpb_…"),
      ". A token is shown once, when it is created; revoking it refuses it at once.",
    ),
    error,
    h(
      "table",
      {},
      h("caption", {}, "The account's API tokens"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Name", "Scope", "Created", "Last used", ""].map((c) => h("th", { scope: "col" }, c)),
        ),
      ),
      body,
    ),
    empty,
    h(
      "section",
      { "aria-labelledby": "new-token-h" },
      h("h2", { id: "new-token-h" }, "Create a token"),
      form,
    ),
    shown,
  );
  await draw();
}

// ---------------------------------------------------------------------------------------------------------
// Sign-in

async function signInPage(main: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.search);
  const back = sameSitePath(params.get("next"));
  const reason = params.get("reason");
  const why =
    reason === "expired"
      ? "Your sign-in has expired. Sign in again to go on."
      : reason === "refused"
        ? "That token is not valid any more (revoked, or for another platform). Sign in again."
        : "Sign in to see your builds.";
  const form = apiForm(
    "sign-in",
    [
      {
        name: "token",
        label: "API token",
        kind: "password",
        required: true,
        hint: "An API token (POST /api/tokens) or, on the local target, npm run token",
      },
    ],
    "Sign in",
    async (v) => {
      saveToken(String(v.token));
      try {
        await call("GET", "/api/workers?per_page=1");
      } catch (error) {
        forgetToken();
        if (error instanceof SignInNeeded) throw new ApiFailure(401, [`token: ${error.message}`]);
        throw error;
      }
      navigate(back, true);
    },
  );
  main.append(
    h("h1", {}, "Sign in"),
    h("p", { role: "alert", class: reason ? "notice" : "" }, why),
    form,
    h(
      "p",
      {},
      "Behind Cloudflare Access there is no token to paste: ",
      h(
        "a",
        {
          href: back,
          // A whole page load, so that Access can send the reader through its login.
          onclick: (e: Event) => {
            e.preventDefault();
            location.assign(back);
          },
        },
        "sign in through Access again",
      ),
      ".",
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------

document.getElementById("sign-out")?.addEventListener("click", () => {
  forgetToken();
  navigate("/sign-in");
});
takeTokenFromUrl();
void render();
