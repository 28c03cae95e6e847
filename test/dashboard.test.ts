/**
 * The builds dashboard in a real browser (Debian's Chromium through playwright-core) against the builds
 * platform on the local target: pushes, live logs, cancel, retry, an expiring sign-in and another
 * account's build. Screenshots of the main pages are written to test-results/screenshots for review.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, SCREENSHOTS } from "./browser";
import { buildsApi } from "./builds/builds";
import { githubDelivery, githubPayload } from "./builds/deliveries";
import { type BuildsPlatform, type GitRepo, startBuildsPlatform } from "./builds-harness";

const ACCOUNT = "acct-dashboard";
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const stripAnsi = (line: string) => line.replace(SGR, "");
const OTHER = "acct-dashboard-other";

let platform: BuildsPlatform;
let browser: Browser;
let token: string;
let api: ReturnType<typeof buildsApi>;
const contexts: BrowserContext[] = [];
const targetLog: string[] = [];

beforeAll(async () => {
  [platform, browser] = await Promise.all([
    startBuildsPlatform({ log: (line) => targetLog.push(line) }),
    launchChromium(),
  ]);
  token = await platform.token(ACCOUNT);
  api = buildsApi(platform.api, token);
}, 180_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await platform?.stop();
}, 60_000);

/** A page of a fresh browser profile, signed in with `as` through the URL fragment, as `npm start` prints it. */
async function openSignedIn(
  pathname: string,
  as = token,
  before: (page: Page) => Promise<void> = async () => {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  contexts.push(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  (page as Page & { errors: string[] }).errors = errors;
  await before(page);
  await page.goto(`${platform.api}${pathname}#token=${as}`);
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });

/** A Worker with a trigger on a fresh repository whose commit runs `build`. */
async function project(build: string, trigger: Record<string, unknown> = {}) {
  const repo: GitRepo = await platform.gitRepo();
  const sha = await repo.commit({ "README.md": "# site\n" }, "first commit");
  const { name, trigger: created } = await api.workerWithTrigger("dash", {
    repo_url: repo.url,
    build_command: build,
    ...trigger,
  });
  return { repo, sha, name, trigger: created as { id: string; webhook_secret: string } };
}

/** Sends GitHub's push delivery for `sha` on main, signed with the trigger's secret. */
async function push(repoUrl: string, secret: string, sha: string, message: string): Promise<void> {
  const d = githubDelivery(
    "push",
    githubPayload("push-new-branch", { repoUrl, sha, message, ref: "refs/heads/main" }),
    secret,
  );
  const res = await fetch(`${platform.api}/webhooks/github`, {
    method: "POST",
    headers: d.headers,
    body: d.body,
  });
  expect(res.status, await res.text()).toBeLessThan(300);
}

describe("the builds dashboard in Chromium", { timeout: 180_000 }, () => {
  it("shows a push made while it is open without a reload, and streams its log line by line to the end", async () => {
    const script = [
      "printf '\\033[1;32mready\\033[0m to build\\n'",
      'echo "secret is $DEPLOY_KEY"',
      'for i in $(seq 1 40); do echo "step $i"; sleep 0.1; done',
    ].join("; ");
    const p = await project(script, {
      env_vars: [{ name: "DEPLOY_KEY", type: "secret", value: "hunter2-do-not-show" }],
    });
    const page = await openSignedIn(`/workers/${p.name}`);
    await page.getByRole("heading", { level: 1, name: p.name }).waitFor();
    expect(page.url()).toBe(`${platform.api}/workers/${p.name}`); // the token left the address bar
    expect(await page.locator("tbody tr[data-build]").count()).toBe(0);

    const sha = await p.repo.commit({ "index.js": "export default {};\n" }, "Add the Worker");
    await push(p.repo.url, p.trigger.webhook_secret, sha, "Add the Worker");
    const row = page.locator("tbody tr[data-build]");
    await row.first().waitFor({ timeout: 20_000 });
    await expect.poll(() => row.first().textContent()).toContain("Add the Worker");

    // Line counts seen by the page as the log arrives: more than one before the end.
    await row.first().getByRole("link").click();
    await page.getByRole("log", { name: "Build log" }).waitFor();
    await page.evaluate(`{
      const box = document.getElementById("log");
      window.lineCounts = [];
      new MutationObserver(() => window.lineCounts.push(box.dataset.lines)).observe(box, { attributeFilter: ["data-lines"] });
    }`);
    await page.locator("#log[data-done]").waitFor({ timeout: 90_000 });
    const counts = (await page.evaluate("window.lineCounts")) as number[];
    expect(new Set(counts).size).toBeGreaterThan(2);

    const uuid = page.url().split("/").pop()!;
    const expected = await api.allLogLines(uuid);
    const shown = await page.locator("#log .line").allTextContents();
    expect(shown).toEqual(expected.map(stripAnsi));
    expect(shown.filter((l) => /^step \d+$/.test(l))).toEqual(
      Array.from({ length: 40 }, (_, i) => `step ${i + 1}`),
    );
    expect(shown).toContain("secret is ***");
    expect(await page.content()).not.toContain("hunter2-do-not-show");
    // ANSI colours as styles, not escape codes.
    const ready = page.locator("#log .line span.b.f2", { hasText: "ready" });
    expect(await ready.count()).toBe(1);
    expect(shown.join("\n")).not.toContain("\x1b");
    await expect.poll(() => page.locator(".build-head .badge").getAttribute("data-state")).toBe("success");
    expect(await page.locator(".timeline li").allTextContents()).toEqual([
      expect.stringMatching(/^queued /),
      expect.stringMatching(/^initializing /),
      expect.stringMatching(/^running /),
      expect.stringMatching(/^success /),
    ]);

    // The log downloads as text.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download log" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`build-${uuid}.log`);
    const file = await download.path();
    expect(readFileSync(file, "utf8")).toBe(`${expected.map(stripAnsi).join("\n")}\n`);
    await shot(page, "build");

    await page.getByRole("link", { name: p.name }).first().click();
    await page.getByRole("heading", { level: 1, name: p.name }).waitFor();
    await page.locator("article.trigger").waitFor();
    await shot(page, "worker");
    await page.getByRole("link", { name: "Workers" }).first().click();
    await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
    await expect
      .poll(() => page.locator(`tr[data-worker="${p.name}"] .badge`).getAttribute("data-state"))
      .toBe("success");
    // A refresh leaves a row that did not change alone: the reader's focus stays on it.
    const link = page.getByRole("link", { name: p.name, exact: true });
    await link.focus();
    for (let i = 0; i < 2; i++)
      await page.waitForResponse(
        (r) =>
          r.url().startsWith(`${platform.api}/api/workers?`) || r.url() === `${platform.api}/api/workers`,
      );
    expect(await link.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await shot(page, "workers");
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("creates and edits a trigger with the API's messages beside the fields, and adds, uses and deletes a deploy hook", async () => {
    const repo = await platform.gitRepo();
    await repo.commit({ "README.md": "# hooks\n" }, "first commit");
    const page = await openSignedIn("/");
    await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
    await page.getByLabel("Worker name").fill("Not A Name!");
    await page.getByRole("button", { name: "Add Worker" }).click();
    await expect.poll(() => page.locator("#new-worker-name-error").textContent()).toMatch(/^name: /);
    expect(await page.getByLabel("Worker name").getAttribute("aria-invalid")).toBe("true");
    await page.getByLabel("Worker name").fill("hooked-site");
    await page.getByRole("button", { name: "Add Worker" }).click();
    await page.getByRole("heading", { level: 1, name: "hooked-site" }).waitFor();

    await page.getByText("Add a trigger").click();
    await page.getByLabel("Repository URL").fill("ftp://example.com/repo");
    await page.getByLabel("Root directory").fill("/abs");
    await page.getByRole("button", { name: "Add trigger" }).click();
    // The same messages as the API gives for the same body.
    const direct = await api.call("POST", "/api/workers/hooked-site/triggers", {
      token,
      body: { repo_url: "ftp://example.com/repo", production_branch: "main", root_directory: "/abs" },
    });
    expect(direct.status).toBe(400);
    const messages = (direct.json.errors as { message: string }[]).map((e) => e.message);
    await expect
      .poll(() => page.locator("#new-trigger-repo_url-error").textContent())
      .toBe(messages.find((m) => m.startsWith("repo_url:")));
    expect(await page.locator("#new-trigger-root_directory-error").textContent()).toBe(
      messages.find((m) => m.startsWith("root_directory:")),
    );
    expect(await page.locator("article.trigger").count()).toBe(0);

    await page.getByLabel("Repository URL").fill(repo.url);
    await page.getByLabel("Root directory").fill("");
    await page.getByLabel("Build command").fill("echo hooked on $BRANCH_NAME");
    await page.getByRole("button", { name: "Add trigger" }).click();
    const secret = page.getByRole("textbox", { name: "Webhook secret" });
    await secret.waitFor();
    expect(await secret.inputValue()).toMatch(/^[0-9a-f]{64}$/);
    const card = page.locator("article.trigger");
    await card.waitFor();

    await card.getByText("Edit trigger").click();
    await card.getByLabel("Production branch").fill("release");
    await card.getByLabel("Build other branches (preview versions)").check();
    await card.getByRole("button", { name: "Save trigger" }).click();
    await expect.poll(() => page.locator("article.trigger dd").first().textContent()).toBe("release");
    const [trigger] = (await api.call("GET", "/api/workers/hooked-site/triggers", { token })).json.result as {
      id: string;
      production_branch: string;
      build_non_production_branches: boolean;
    }[];
    expect(trigger).toMatchObject({ production_branch: "release", build_non_production_branches: true });

    // Variables: added, a bad name refused with the API's message, a stored secret kept when left empty.
    await card.getByText("Edit variables").click();
    const vars = card.locator("form[id^=vars-]");
    await vars.getByRole("button", { name: "Add variable" }).click();
    await vars.getByRole("button", { name: "Add variable" }).click();
    const varRow = (i: number) => vars.locator(".var").nth(i);
    await varRow(0).getByLabel("Name").fill("NODE_ENV");
    await varRow(0).getByLabel("Value").fill("production");
    await varRow(1).getByLabel("Name").fill("1BAD");
    await varRow(1).getByLabel("Type").selectOption("secret");
    await varRow(1).getByLabel("Value").fill("s3cret-value");
    await vars.getByRole("button", { name: "Save variables" }).click();
    await expect.poll(() => vars.getByRole("alert").textContent()).toMatch(/^env_vars\[1\]\.name: /);
    await varRow(1).getByLabel("Name").fill("API_KEY");
    await vars.getByRole("button", { name: "Save variables" }).click();
    await expect.poll(() => card.locator("dd").nth(3).textContent()).toBe("API_KEY (secret), NODE_ENV");
    const sealed = async () =>
      (
        await platform.sql<{ sealed_value: string }>(
          "SELECT sealed_value FROM build_variables WHERE trigger_id = $1 AND name = 'API_KEY'",
          [trigger!.id],
        )
      )[0]?.sealed_value;
    const before = await sealed();
    expect(before).toEqual(expect.any(String));
    const again = page.locator("article.trigger form[id^=vars-]");
    await page.locator("article.trigger").getByText("Edit variables").click();
    expect(await again.locator(".var").nth(0).getByLabel("Value").inputValue()).toBe("");
    expect(await again.locator(".var").nth(0).getByLabel("Value").getAttribute("placeholder")).toBe(
      "unchanged",
    );
    await again.locator(".var").nth(1).getByLabel("Value").fill("development");
    await again.getByRole("button", { name: "Save variables" }).click();
    await expect
      .poll(async () => {
        const [t] = (await api.call("GET", "/api/workers/hooked-site/triggers", { token })).json.result as {
          env_vars: { name: string; value: string | null }[];
        }[];
        return t!.env_vars;
      })
      .toEqual([
        { name: "API_KEY", type: "secret", value: null },
        { name: "NODE_ENV", type: "text", value: "development" },
      ]);
    expect(await sealed()).toBe(before);

    await page.getByText("Add a deploy hook").click();
    await page.getByLabel("Hook name").fill("nightly");
    await page.getByLabel("Branch to build").fill("main");
    await page.getByRole("button", { name: "Add deploy hook" }).click();
    const hookUrl = await page.getByRole("textbox", { name: "Deploy hook URL" }).inputValue();
    expect(hookUrl).toMatch(new RegExp(`^${platform.api}/hooks/deploy/`));
    await page.getByText("nightly → main").waitFor();
    // The URL shown once starts a build, which appears in the history without a reload.
    const fired = await fetch(hookUrl, { method: "POST" });
    expect(fired.status, await fired.text()).toBe(202);
    const row = page.locator("tbody tr[data-build]");
    await row.first().waitFor({ timeout: 20_000 });
    expect(await row.first().textContent()).toContain("deploy_hook");

    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete deploy hook nightly" }).click();
    await page.getByText("nightly → main").waitFor({ state: "detached" });
    expect((await fetch(hookUrl, { method: "POST" })).status).toBe(404);
  });

  it("filters a Worker's builds by status and branch, and pages through older ones", async () => {
    const p = await project("echo built");
    const uuids: string[] = [];
    for (const branch of ["main", "feature/a", "main", "feature/a", "main"]) {
      uuids.push(await api.startBuild(p.trigger.id, { branch }));
    }
    // Stopped at once, so that none is running while the page filters.
    for (const uuid of uuids) await api.call("PUT", `/api/builds/${uuid}/cancel`, { token });
    const page = await openSignedIn(`/workers/${p.name}`);
    const rows = page.locator("tbody tr[data-build]");
    const filters = page.getByRole("search", { name: "filter builds" });
    await expect.poll(() => rows.count()).toBe(5);
    await filters.getByLabel("Branch").fill("feature/a");
    await filters.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.evaluateAll((r) => r.map((e) => e.getAttribute("data-build")))).toEqual([
      uuids[3],
      uuids[1],
    ]);
    expect(new URL(page.url()).search).toBe("?branch=feature%2Fa");
    await filters.getByLabel("Status").selectOption("running");
    await filters.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No builds match.").waitFor();
    await filters.getByLabel("Status").selectOption("");
    await filters.getByLabel("Branch").fill("bad..branch");
    await filters.getByRole("button", { name: "Filter" }).click();
    await expect
      .poll(() => page.getByRole("alert").first().textContent())
      .toBe("branch: must be a valid git branch name");

    // Twenty builds a page: the older ones come with the button.
    for (let i = 0; i < 20; i++) uuids.push(await api.startBuild(p.trigger.id, { branch: "main" }));
    for (const uuid of uuids.slice(5)) await api.call("PUT", `/api/builds/${uuid}/cancel`, { token });
    await page.goto(`${platform.api}/workers/${p.name}`);
    await expect.poll(() => rows.count()).toBe(20);
    await page.getByRole("button", { name: "Older builds" }).click();
    await expect.poll(() => rows.count()).toBe(25);
    expect(await rows.evaluateAll((r) => r.map((e) => e.getAttribute("data-build")))).toEqual(
      [...uuids].reverse(),
    );
    expect(await page.getByRole("button", { name: "Older builds" }).isHidden()).toBe(true);
  });

  it("resumes a log whose stream dropped with Last-Event-ID, every line once and in order", async () => {
    // Three groups of ten lines, a pause between them: the stream sends at least three pages, each
    // ending with an id.
    const p = await project(
      'for g in 1 2 3; do for i in $(seq 1 10); do echo "tick $g.$i"; done; sleep 1.5; done',
    );
    const uuid = await api.startBuild(p.trigger.id);
    // The first stream is the server's own, cut off in the middle of a page after the first: its first
    // line drawn, the rest of it missing, and the id before it the one to resume from.
    let cut = "";
    let resumeId = "";
    const resumedWith: (string | undefined)[] = [];
    const page = await openSignedIn(`/builds/${uuid}`, token, async (page) => {
      await page.route("**/logs/stream", async (route) => {
        if (cut !== "") {
          resumedWith.push(route.request().headers()["last-event-id"]);
          return route.continue();
        }
        cut = "pending";
        const response = await route.fetch();
        const body = await response.text();
        const events = body.split("\n\n");
        const pages: string[][] = [[]];
        for (const event of events) {
          pages[pages.length - 1]!.push(event);
          if (/^id: /m.test(event)) pages.push([]);
        }
        const at = pages.findIndex(
          (page, i) => i > 0 && page.filter((e) => e.startsWith("event: log")).length >= 2,
        );
        if (at === -1) throw new Error(`no page after the first has two lines: ${body.slice(0, 2000)}`);
        resumeId = /^id: (\d+)$/m.exec(pages[at - 1]!.at(-1)!)![1]!;
        const before = pages.slice(0, at).flat().concat(pages[at]![0]!);
        const second = pages[at]![1]!;
        cut = `${before.join("\n\n")}\n\n${second.slice(0, Math.floor(second.length / 2))}`;
        await route.fulfill({ response, body: cut });
      });
    });
    await page.locator("#log[data-done]").waitFor({ timeout: 90_000 });
    expect(resumedWith).toEqual([resumeId]);
    const shown = await page.locator("#log .line").allTextContents();
    expect(shown).toEqual((await api.allLogLines(uuid)).map(stripAnsi));
    const ticks = [1, 2, 3].flatMap((g) => Array.from({ length: 10 }, (_, i) => `tick ${g}.${i + 1}`));
    expect(shown.filter((l) => /^tick \d+\.\d+$/.test(l))).toEqual(ticks);
  });

  it("keeps drawing frames while a 20,000-line log streams, shows every line once in order, and stops following when the reader scrolls up", async () => {
    const LINES = 20_000;
    const p = await project(
      "for b in $(seq 0 19); do seq $((b*1000+1)) $((b*1000+1000)) | sed 's/^/line /'; sleep 0.2; done",
    );
    const uuid = await api.startBuild(p.trigger.id);
    const page = await openSignedIn(`/builds/${uuid}`);
    await page.getByRole("log", { name: "Build log" }).waitFor();
    // Every frame's time and the lines drawn by then, from before the first line.
    await page.evaluate(`{
      window.frames_ = [];
      const box = document.getElementById("log");
      const tick = (t) => { window.frames_.push([t, Number(box.dataset.lines ?? 0)]); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
    }`);
    await page.locator("#log .line", { hasText: /^line 3000$/ }).waitFor({ timeout: 60_000 });
    // The reader scrolls up while lines arrive: the view stays where the reader put it.
    await page.locator("#log").evaluate((box) => {
      box.scrollTop = 0;
    });
    await page.getByRole("button", { name: "Follow the end" }).waitFor();
    await page.locator("#log[data-done]").waitFor({ timeout: 120_000 });
    await expect.poll(() => page.locator("#log .line").count()).toBeGreaterThanOrEqual(LINES);
    expect(await page.locator("#log").evaluate((box) => box.scrollTop)).toBe(0);
    const frames = (await page.evaluate("window.frames_")) as [number, number][];
    const shown = await page.locator("#log .line").allTextContents();
    const lines = shown.filter((l) => /^line \d+$/.test(l));
    expect(lines).toEqual(Array.from({ length: LINES }, (_, i) => `line ${i + 1}`));
    expect(shown).toEqual((await api.allLogLines(uuid)).map(stripAnsi));
    const numbers = await page
      .locator("#log .line")
      .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-n"))));
    expect(numbers).toEqual(Array.from({ length: shown.length }, (_, i) => i + 1));

    // Frames rendered while lines arrived: from the frame that drew the first line to the one that drew
    // the last, at most 400 lines a frame, so at least 50 frames.
    const first = frames.findIndex(([, n]) => n > 0);
    const last = frames.findIndex(([, n]) => n >= shown.length);
    const during = frames.slice(first - 1, last + 1);
    const steps = during.slice(1).map(([, n], i) => n - during[i]![1]);
    const gaps = during.slice(1).map(([t], i) => t - during[i]![0]);
    expect(Math.max(...steps)).toBeLessThanOrEqual(400);
    expect(during.length).toBeGreaterThanOrEqual(LINES / 400);
    const seconds = (during[during.length - 1]![0] - during[0]![0]) / 1000;
    const sorted = [...gaps].sort((a, b) => a - b);
    console.log(
      `20,000-line log: ${during.length} frames in ${seconds.toFixed(1)} s while lines arrived ` +
        `(${(during.length / seconds).toFixed(0)} fps), frame gap p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, ` +
        `p95 ${sorted[Math.floor(sorted.length * 0.95)]!.toFixed(0)} ms, longest ${sorted[sorted.length - 1]!.toFixed(0)} ms, ` +
        `at most ${Math.max(...steps)} lines a frame`,
    );
    await page.getByRole("button", { name: "Follow the end" }).click();
    await expect
      .poll(() => page.locator("#log").evaluate((box) => box.scrollHeight - box.scrollTop - box.clientHeight))
      .toBeLessThan(30);
  });

  it("shows where a build deployed, and why a build failed", async () => {
    const output = JSON.stringify({
      version: 1,
      type: "deploy",
      worker_name: "site",
      version_id: "5d1b8a5e-1c0a-4c8e-9b7a-2f3e4d5c6b7a",
      targets: ["https://site.acct.workers.dev"],
    });
    const deployed = await project("echo built", {
      deploy_command: `printf '%s\\n' '${output}' >> "$WRANGLER_OUTPUT_FILE_PATH"`,
    });
    const ok = await api.startBuild(deployed.trigger.id);
    const page = await openSignedIn(`/builds/${ok}`);
    await expect
      .poll(() => page.locator(".build-head .badge").getAttribute("data-state"), { timeout: 60_000 })
      .toBe("success");
    const link = page.getByRole("link", { name: "https://site.acct.workers.dev" });
    await link.waitFor();
    expect(await link.getAttribute("rel")).toBe("noopener noreferrer");
    expect(await page.locator("dt", { hasText: "Deployed to" }).count()).toBe(1);

    const broken = await project("echo broken; exit 3");
    const failed = await api.startBuild(broken.trigger.id);
    await page.goto(`${platform.api}/builds/${failed}`);
    await expect
      .poll(() => page.locator(".build-head .badge").getAttribute("data-state"), { timeout: 60_000 })
      .toBe("failed");
    const build = await api.stopped(failed);
    expect(build.failure_class).toEqual(expect.any(String));
    await expect.poll(() => page.locator("dd.failure").textContent()).toBe(build.failure_class);
  });

  it("cancels a slow build from its page, and retries it as a new build", async () => {
    const p = await project("echo sleeping; sleep 300");
    const uuid = await api.startBuild(p.trigger.id);
    const page = await openSignedIn(`/builds/${uuid}`);
    await page.locator("#log .line", { hasText: /^sleeping$/ }).waitFor({ timeout: 60_000 });
    // The page polls a running build: a reader on a link of its facts stays there.
    await page.locator("dl.facts code").waitFor(); // the commit the runner checked out
    const workerLink = page.locator("dl.facts a");
    await workerLink.focus();
    for (let i = 0; i < 2; i++)
      await page.waitForResponse((r) => r.url() === `${platform.api}/api/builds/${uuid}`);
    expect(await workerLink.evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    const cancel = page.getByRole("button", { name: "Cancel build" });
    // By keyboard: the control is a labelled button.
    await cancel.focus();
    await page.keyboard.press("Enter");
    await expect
      .poll(() => page.locator(".build-head .badge").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("cancelled");
    expect((await api.stopped(uuid)).build_outcome).toBe("cancelled");
    await page.locator("#log[data-done]").waitFor({ timeout: 30_000 });
    expect(await cancel.isDisabled()).toBe(true);

    await page.getByRole("button", { name: "Retry build" }).click();
    await page.waitForURL((u) => /\/builds\/[0-9a-f-]{36}$/.test(u.pathname) && !u.pathname.endsWith(uuid));
    const retried = page.url().split("/").pop()!;
    const build = (await api.call("GET", `/api/builds/${retried}`, { token })).json.result as {
      branch: string;
      trigger_id: string;
    };
    expect(build).toMatchObject({ branch: "main", trigger_id: p.trigger.id });
    await page.locator("#log .line", { hasText: /^sleeping$/ }).waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Cancel build" }).click();
    await expect
      .poll(() => page.locator(".build-head .badge").getAttribute("data-state"), { timeout: 30_000 })
      .toBe("cancelled");
  });

  it("sends a reader whose token expires to sign-in, and back to the page after signing in", async () => {
    const short = await platform.token(ACCOUNT, { expiresInSeconds: 4 });
    const page = await openSignedIn("/", short);
    await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
    // The page refreshes every few seconds: the first refresh after the expiry sends the reader away.
    await page.waitForURL(/\/sign-in\?/, { timeout: 30_000 });
    const url = new URL(page.url());
    expect([url.searchParams.get("reason"), url.searchParams.get("next")]).toEqual(["expired", "/"]);
    await page.getByText("Your sign-in has expired").waitFor();
    await shot(page, "sign-in");

    await page.getByLabel("API token").fill("wpb_not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator("#sign-in-token-error").textContent()).toMatch(/^token: /);
    // An API token of scope read: the page reads, and a change says what the token lacks.
    const created = await api.call("POST", "/api/tokens", { token, body: { name: "reader", scope: "read" } });
    expect(created.status).toBe(201);
    await page.getByLabel("API token").fill(created.json.result.token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/");
    await page.getByLabel("Worker name").fill("read-only");
    await page.getByRole("button", { name: "Add Worker" }).click();
    await expect
      .poll(() => page.locator("#new-worker-error").textContent())
      .toBe("this token's scope is read; POST /api/workers needs write");
  });

  it("creates an API token shown once, and revokes it", async () => {
    const page = await openSignedIn("/");
    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByRole("heading", { level: 1, name: "API tokens" }).waitFor();
    await page.getByLabel("Token name").fill("ci-deploys");
    await page.getByLabel("Scope").selectOption("write");
    await page.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByRole("textbox", { name: "API token ci-deploys" });
    await shown.waitFor();
    const secret = await shown.inputValue();
    expect(secret).toMatch(/^wpb_[A-Za-z0-9_-]{43}$/);
    await page.locator('tr[data-token="ci-deploys"]').waitFor();
    expect(await page.locator('tr[data-token="ci-deploys"] td').first().textContent()).toBe("write");
    const use = () =>
      fetch(`${platform.api}/api/workers`, { headers: { authorization: `Bearer ${secret}` } });
    expect((await use()).status).toBe(200);

    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Revoke API token ci-deploys" }).click();
    await page.locator('tr[data-token="ci-deploys"]').waitFor({ state: "detached" });
    expect((await use()).status).toBe(401);
    // The token is shown nowhere else.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "API tokens" }).waitFor();
    expect(await page.content()).not.toContain(secret);
  });

  it.each(["//evil.example/x", "/\\evil.example/x", "https://evil.example/x", "javascript:alert(1)"])(
    "signs in and stays on this site when the sign-in link's next is %s",
    async (next) => {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${platform.api}/sign-in?next=${encodeURIComponent(next)}`);
      await page.getByLabel("API token").fill(token);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
      expect(page.url()).toBe(`${platform.api}/`);
    },
  );

  it("jumps to the content by the skip link without reloading, and starts with a malformed token in the URL", async () => {
    const page = await openSignedIn("/workers/nowhere?status=stopped");
    await page.getByRole("heading", { level: 1, name: "Not found" }).waitFor();
    const entries = await page.evaluate("history.length");
    await page.getByRole("link", { name: "Skip to content" }).focus();
    await page.keyboard.press("Enter");
    expect(page.url()).toBe(`${platform.api}/workers/nowhere?status=stopped#main`);
    expect(await page.evaluate("history.length")).toBe((entries as number) + 1);
    // Not drawn again: the page's requests were all made before the jump.
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goBack();
    await page.goForward();
    expect(requests).toEqual([]);
    expect(await page.getByRole("heading", { level: 1, name: "Not found" }).count()).toBe(1);

    const bad = await browser.newContext();
    contexts.push(bad);
    const fresh = await bad.newPage();
    await fresh.goto(`${platform.api}/#token=%E0%A4`);
    await fresh.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
    expect(fresh.url()).toBe(`${platform.api}/sign-in?next=%2F&reason=missing`);
  });

  it("keeps streaming a log through a passing server error", async () => {
    const p = await project('for i in $(seq 1 20); do echo "beat $i"; sleep 0.1; done');
    const uuid = await api.startBuild(p.trigger.id);
    let refused = 0;
    const page = await openSignedIn(`/builds/${uuid}`, token, async (page) => {
      await page.route("**/logs/stream", async (route) => {
        if (refused++ > 0) return route.continue();
        await route.fulfill({
          status: 503,
          contentType: "application/json",
          body: JSON.stringify({
            success: false,
            errors: [{ code: 1000, message: "restarting" }],
            result: null,
          }),
        });
      });
    });
    await page.locator("#log[data-done]").waitFor({ timeout: 60_000 });
    expect(refused).toBeGreaterThan(1);
    const shown = await page.locator("#log .line").allTextContents();
    expect(shown.filter((l) => /^beat \d+$/.test(l))).toEqual(
      Array.from({ length: 20 }, (_, i) => `beat ${i + 1}`),
    );
  });

  it("opens signed in from the URL npm start prints", async () => {
    const line = targetLog.find((l) => l.startsWith("builds dashboard (signed in as local-dev-account): "));
    expect(line).toBe(`builds dashboard (signed in as local-dev-account): ${platform.target.dashboard}`);
    expect(platform.target.dashboard).toBe(`${platform.api}/#token=${platform.target.devToken}`);
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(platform.target.dashboard!);
    await page.getByRole("heading", { level: 1, name: "Workers" }).waitFor();
    await page.getByText("No Workers yet").waitFor();
    expect(page.url()).toBe(`${platform.api}/`);
    // Workers added and deleted elsewhere come and go without a reload.
    const dev = buildsApi(platform.api, platform.target.devToken!);
    expect(
      (
        await dev.call("POST", "/api/workers", {
          token: platform.target.devToken!,
          body: { name: "short-lived" },
        })
      ).status,
    ).toBe(201);
    await page.locator('tr[data-worker="short-lived"]').waitFor({ timeout: 15_000 });
    expect(
      (await dev.call("DELETE", "/api/workers/short-lived", { token: platform.target.devToken! })).status,
    ).toBe(200);
    await page.locator('tr[data-worker="short-lived"]').waitFor({ state: "detached", timeout: 15_000 });
    await page.getByText("No Workers yet").waitFor();
  });

  it("does not show another account's build by its URL", async () => {
    const other = buildsApi(platform.api, await platform.token(OTHER));
    const { trigger } = await other.workerWithTrigger("theirs", {
      repo_url: "https://github.com/acme/private",
      build_command: "echo private",
    });
    const theirs = await other.startBuild(trigger.id);
    const page = await openSignedIn(`/builds/${theirs}`);
    await page.getByRole("heading", { level: 1, name: "Not found" }).waitFor();
    expect(await page.getByRole("alert").first().textContent()).toBe(`build ${theirs} not found`);
    expect(await page.content()).not.toContain("acme/private");
    await other.call("PUT", `/api/builds/${theirs}/cancel`, { token: await platform.token(OTHER) });
  });
});
