import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { dropCreated, dropLater, rows, withClient } from "../../test/postgres";
import { type CapturedResource, isSecretWrapper, SECRET_SIG, SECRET_VALUE } from "../capture";
import { captureStack } from "../synth";
import { applyPostgresGraph, hyperdriveOriginUrl, quoteIdent, quoteLiteral } from "./postgres-apply";

const adminUrl = inject("postgresUrl");
const ROLE = "postgresql:index/role:Role";
const DATABASE = "postgresql:index/database:Database";

let localGraph: CapturedResource[];

beforeAll(async () => {
  localGraph = await captureStack({ stack: "local" });
}, 120_000);

afterAll(() => dropCreated(adminUrl));

function urlAs(database: string, user?: { name: string; password: string }): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (user) {
    url.username = encodeURIComponent(user.name);
    url.password = encodeURIComponent(user.password);
  }
  return url.toString();
}

const secret = (value: unknown) => ({ [SECRET_SIG]: SECRET_VALUE, value });

/**
 * The `local` stack's graph with its database, application role and admin user renamed, so that each test
 * has its own objects on the shared server. Names carry quotes, spaces and capitals to exercise quoting.
 */
function renamed(graph: CapturedResource[], tag: string, opts: { ownerIsAdmin?: boolean } = {}) {
  const admin = decodeURIComponent(new URL(adminUrl).username);
  const owner = opts.ownerIsAdmin ? admin : `Owner ${tag}`;
  const names = { database: `wp db ${tag}`, app: `App "${tag}"`, owner };
  dropLater({ databases: [names.database], roles: [names.app, ...(opts.ownerIsAdmin ? [] : [owner])] });
  const map = (value: unknown, key?: string): unknown => {
    if (isSecretWrapper(value)) return { ...value, value: map(value.value, key) };
    if (Array.isArray(value)) return value.map((v) => map(v));
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, map(v, k)]));
    }
    if (key === "database" && value === "builds") return names.database;
    if (key === "role" && value === "builds_app") return names.app;
    if ((key === "owner" || key === "user") && value === "postgres") return names.owner;
    return value;
  };
  const resources = graph.map((r) => {
    const inputs = map(r.inputs) as Record<string, unknown>;
    if (r.type === DATABASE) inputs.name = names.database;
    if (r.type === ROLE) inputs.name = names.app;
    return { ...r, inputs };
  });
  const role = resources.find((r) => r.type === ROLE);
  const password = role && isSecretWrapper(role.inputs.password) ? role.inputs.password.value : undefined;
  if (typeof password !== "string") throw new Error("the local graph has no Role with a secret password");
  return { resources, names, password };
}

const withPassword = (graph: CapturedResource[], password: string) =>
  graph.map((r) => (r.type === ROLE ? { ...r, inputs: { ...r.inputs, password: secret(password) } } : r));

const errorCode = (p: Promise<unknown>) =>
  p.then(
    () => "none",
    (err: { code?: string }) => err.code,
  );

describe("applyPostgresGraph with the local stack's graph", () => {
  it("creates the roles, database, schema and grants and applies the migrations", async () => {
    const { resources, names, password } = renamed(localGraph, `a${process.pid}`);
    const postgres = resources.filter((r) => /^postgresql:|:SqlMigrations$/.test(r.type));
    expect(postgres.map((r) => r.type.split(":").at(-1))).toEqual(
      expect.arrayContaining(["Role", "Database", "Schema", "Grant", "DefaultPrivileges", "SqlMigrations"]),
    );
    expect(JSON.stringify(postgres)).not.toMatch(/builds_app|"postgres"/);
    const lines: string[] = [];
    const result = await applyPostgresGraph(resources, { adminUrl, log: (l) => lines.push(l) });
    const migrations = postgres.find((r) => r.type.endsWith(":SqlMigrations"))?.inputs.migrations;
    const migrationFiles = (migrations as { name: string }[]).map((m) => m.name);
    expect(migrationFiles.length).toBeGreaterThan(0);
    expect(result).toMatchObject({
      databases: [names.database],
      roles: [names.app],
      migrated: [{ database: names.database, schema: "builds", applied: migrationFiles }],
    });
    expect(lines.join("\n")).not.toContain(password);

    const db = urlAs(names.database);
    expect(
      await rows(db, "SELECT rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname", [
        [names.app, names.owner],
      ]),
    ).toEqual([{ rolcanlogin: true }, { rolcanlogin: false }]);
    expect(
      await rows(db, "SELECT pg_get_userbyid(nspowner) AS o FROM pg_namespace WHERE nspname = 'builds'"),
    ).toEqual([{ o: names.owner }]);
    expect(
      await rows(
        db,
        "SELECT tableowner FROM pg_tables WHERE schemaname = 'builds' AND tablename = 'accounts'",
      ),
    ).toEqual([{ tableowner: names.owner }]);
    expect(await rows(db, "SELECT name FROM builds.schema_migrations ORDER BY version")).toEqual(
      migrationFiles.map((name) => ({ name })),
    );

    // The application role logs in with the graph's password and has DML, not DDL.
    const asApp = urlAs(names.database, { name: names.app, password });
    await withClient(asApp, async (c) => {
      await c.query("INSERT INTO builds.accounts (id) VALUES ('acct-1')");
      expect((await c.query("SELECT id FROM builds.accounts")).rows).toEqual([{ id: "acct-1" }]);
      // The role's own search_path names the schema, so the Workers' queries need no qualifier.
      expect((await c.query("SELECT id FROM accounts")).rows).toEqual([{ id: "acct-1" }]);
      await expect(errorCode(c.query("CREATE TABLE builds.intruder (id int)"))).resolves.toBe("42501");
      await expect(errorCode(c.query("DROP TABLE builds.accounts"))).resolves.toBe("42501");
    });
  });

  it("changes nothing when run again", async () => {
    const { resources, names } = renamed(localGraph, `b${process.pid}`);
    await applyPostgresGraph(resources, { adminUrl });
    const state = () =>
      rows(
        adminUrl,
        "SELECT (SELECT oid FROM pg_database WHERE datname = $1) AS db, (SELECT rolpassword FROM pg_authid WHERE rolname = $2) AS pw",
        [names.database, names.app],
      );
    const before = await state();
    const again = await applyPostgresGraph(resources, { adminUrl });
    expect(again.changes).toEqual([]);
    expect(again.migrated).toEqual([{ database: names.database, schema: "builds", applied: [] }]);
    expect(await state()).toEqual(before);
  });

  it("applies a changed role password (with the server's admin as the graph's admin user)", async () => {
    const { resources, names, password } = renamed(localGraph, `c${process.pid}`, { ownerIsAdmin: true });
    await applyPostgresGraph(resources, { adminUrl });
    const next = `it's a \\new/ p@ss ${process.pid}`;
    const lines: string[] = [];
    const result = await applyPostgresGraph(withPassword(resources, next), {
      adminUrl,
      log: (l) => lines.push(l),
    });
    expect(result.changes).toEqual([`altered role ${names.app} (new password)`]);
    expect(lines.join("\n")).not.toContain(next);
    const login = (pw: string) =>
      errorCode(rows(urlAs(names.database, { name: names.app, password: pw }), "SELECT 1"));
    await expect(login(next)).resolves.toBe("none");
    await expect(login(password)).resolves.toBe("28P01");
    const tables = await rows(
      urlAs(names.database),
      "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'builds'",
    );
    expect(tables).toEqual([{ tableowner: names.owner }]);
  });

  it("refuses an unknown postgresql resource type, naming it, before changing anything", async () => {
    const { resources, names } = renamed(localGraph, `d${process.pid}`);
    const publication: CapturedResource = {
      ...resources[0]!,
      urn: "urn:pulumi:local::workers-platform::postgresql:index/publication:Publication::pub",
      type: "postgresql:index/publication:Publication",
      name: "pub",
      inputs: { name: "pub" },
    };
    await expect(applyPostgresGraph([...resources, publication], { adminUrl })).rejects.toThrow(
      /postgresql:index\/publication:Publication \("pub"\)/,
    );
    expect(await rows(adminUrl, "SELECT 1 FROM pg_database WHERE datname = $1", [names.database])).toEqual(
      [],
    );
    expect(await rows(adminUrl, "SELECT 1 FROM pg_roles WHERE rolname = $1", [names.app])).toEqual([]);
  });

  it("refuses to alter the server's admin user through a Role", async () => {
    const admin = decodeURIComponent(new URL(adminUrl).username);
    const role = localGraph.find((r) => r.type === ROLE)!;
    const graph = [{ ...role, inputs: { ...role.inputs, name: admin } }];
    await expect(applyPostgresGraph(graph, { adminUrl })).rejects.toThrow(
      `Role "${admin}" is the local server's admin user`,
    );
  });
});

describe("quoting and URLs", () => {
  it("quotes identifiers and literals", () => {
    expect(quoteIdent('App "x"')).toBe('"App ""x"""');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(quoteLiteral("a\\b'c")).toBe("E'a\\\\b''c'");
    expect(() => quoteIdent("")).toThrow();
  });

  it("hyperdriveOriginUrl encodes every part", () => {
    const origin = { user: "app@x", password: "p:/@#?% w&d", database: "my db/1" };
    const url = hyperdriveOriginUrl(origin, { host: "127.0.0.1", port: 54321 });
    expect(url).toBe("postgres://app%40x:p%3A%2F%40%23%3F%25%20w%26d@127.0.0.1:54321/my%20db%2F1");
    const parsed = new URL(url);
    expect(decodeURIComponent(parsed.username)).toBe(origin.user);
    expect(decodeURIComponent(parsed.password)).toBe(origin.password);
    expect(decodeURIComponent(parsed.pathname.slice(1))).toBe(origin.database);
    expect(hyperdriveOriginUrl(origin, { host: "::1", port: 5432 })).toContain("@[::1]:5432/");
  });
});
