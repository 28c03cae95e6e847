import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { cloudflareApiToken } from "../workers-src/builds/shared/cloudflare-token";
import { exitOnHelp } from "./cli-args";
import { tokenSecretFile } from "./cloudflare-api/secret";
import { DEFAULT_DEV_ACCOUNT, devTokenServiceOf, signDevToken } from "./dev-token";
import { projectName, REPO_ROOT, readStackFile, stackFilePath } from "./stack-file";
import { captureStack } from "./synth";
import { planLocal } from "./target/miniflare-plan";
import { cloudflareStateDir } from "./target/services/cloudflare-api";

const USAGE =
  "usage: npm run token -- [--account <id>] [--expires-in <seconds>] [--stack <name>] [--config-file <path>] | --cloudflare [--account <id>] [--state-dir <path>]";

/** One day, as the local target's own development token. */
export const DEFAULT_EXPIRES_IN_SECONDS = 24 * 3600;
export const MAX_EXPIRES_IN_SECONDS = 365 * 24 * 3600;
const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A refusal whose message is the whole story: no stack trace is printed with it. */
export class TokenError extends Error {
  override name = "TokenError";
}

export interface TokenOptions {
  /** @default DEFAULT_DEV_ACCOUNT */
  account: string;
  /** @default DEFAULT_EXPIRES_IN_SECONDS */
  expiresInSeconds: number;
  /** @default "local" */
  stack: string;
  /** Config file instead of `stacks/Pulumi.<stack>.yaml`. */
  configFile?: string;
  /** The local Cloudflare API stand-in's token for the account, instead of a REST API JWT. */
  cloudflare?: boolean;
  /** The local target's state folder (the stand-in's secret is there). @default `.local` */
  stateDir?: string;
}

/** Checks an account id as the token's `sub`; answers the refusal, or undefined when it is fine. */
export function accountProblem(account: string): string | undefined {
  return ACCOUNT_ID.test(account)
    ? undefined
    : `--account must be 1 to 64 characters of A-Z, a-z, 0-9, _ and - (got ${JSON.stringify(account)})`;
}

/** Reads the command line; throws a TokenError that names the bad flag. */
export function parseTokenArgs(argv: string[]): TokenOptions {
  let values: {
    account?: string;
    "expires-in"?: string;
    stack?: string;
    "config-file"?: string;
    cloudflare?: boolean;
    "state-dir"?: string;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        account: { type: "string" },
        "expires-in": { type: "string" },
        stack: { type: "string" },
        "config-file": { type: "string" },
        cloudflare: { type: "boolean" },
        "state-dir": { type: "string" },
      },
    }));
  } catch (err) {
    throw new TokenError((err as Error).message);
  }
  const account = values.account ?? DEFAULT_DEV_ACCOUNT;
  const problem = accountProblem(account);
  if (problem) throw new TokenError(problem);
  const rawExpiry = values["expires-in"];
  const expiresInSeconds = rawExpiry === undefined ? DEFAULT_EXPIRES_IN_SECONDS : Number(rawExpiry);
  if (
    !/^\d+$/.test(rawExpiry ?? "1") ||
    !Number.isSafeInteger(expiresInSeconds) ||
    expiresInSeconds < 1 ||
    expiresInSeconds > MAX_EXPIRES_IN_SECONDS
  ) {
    throw new TokenError(
      `--expires-in must be a whole number of seconds between 1 and ${MAX_EXPIRES_IN_SECONDS} (got ${JSON.stringify(rawExpiry)})`,
    );
  }
  if (values.stack !== undefined && values.stack.trim() === "")
    throw new TokenError("--stack must not be empty");
  if (values.cloudflare) {
    // Its tokens do not expire and belong to no stack: what only a JWT has is refused, not ignored.
    for (const flag of ["expires-in", "stack", "config-file"] as const)
      if (values[flag] !== undefined) throw new TokenError(`--${flag} does not go with --cloudflare`);
    return { account, expiresInSeconds, stack: "local", cloudflare: true, stateDir: values["state-dir"] };
  }
  if (values["state-dir"] !== undefined) throw new TokenError("--state-dir goes only with --cloudflare");
  return { account, expiresInSeconds, stack: values.stack ?? "local", configFile: values["config-file"] };
}

/**
 * The local Cloudflare API stand-in's token for an account: derived from the secret the local target
 * keeps in its state folder (made by its first start).
 */
export async function cloudflareTokenFor(account: string, stateDir = path.join(REPO_ROOT, ".local")) {
  const file = tokenSecretFile(cloudflareStateDir(path.resolve(stateDir)));
  if (!existsSync(file)) {
    throw new TokenError(
      `no Cloudflare API stand-in secret in ${path.dirname(file)}: start the local target on that state folder once (npm start)`,
    );
  }
  return cloudflareApiToken(readFileSync(file, "utf8").trim(), account);
}

/**
 * The secret the Client Worker verifies tokens with on a local-environment stack: the program is
 * evaluated as the local target evaluates it, and the key of the Worker that declared development tokens
 * (a `dev-token` local service) is taken. A stack of
 * any other environment is refused before anything is evaluated: its tokens are not for development.
 */
export async function localApiSecret(options: { stack: string; configFile?: string }): Promise<string> {
  return (await localDevTokenService(options)).secret;
}

/** The Worker that declared development tokens on a local-environment stack, and their key. */
export async function localDevTokenService(options: {
  stack: string;
  configFile?: string;
}): Promise<{ scriptName: string; secret: string }> {
  const file = path.resolve(options.configFile ?? stackFilePath(options.stack));
  if (!existsSync(file)) {
    throw new TokenError(`no config for stack "${options.stack}": ${file} does not exist`);
  }
  const project = projectName();
  const environment = readStackFile(file, project).config[`${project}:environment`];
  if (environment !== "local") {
    throw new TokenError(
      `stack "${options.stack}" is the ${JSON.stringify(environment ?? "(unset)")} environment (${file}): ` +
        "development tokens are signed only for the local environment; a deployed stack's tokens come from its own secret",
    );
  }
  const plan = planLocal(await captureStack({ stack: options.stack, configFile: file }));
  const service = devTokenServiceOf(plan.services);
  if (!service) {
    throw new TokenError(
      `stack "${options.stack}" has no Worker that declares development tokens (a dev-token local service): it runs no REST API that takes them`,
    );
  }
  return service;
}

/** A development token of the builds platform's REST API on a local-environment stack. */
export async function devTokenFor(options: TokenOptions): Promise<string> {
  const secret = await localApiSecret(options);
  return signDevToken(secret, options.account, { expiresInSeconds: options.expiresInSeconds });
}

async function main(): Promise<number> {
  exitOnHelp(USAGE);
  let options: TokenOptions;
  try {
    options = parseTokenArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`npm run token: ${(err as Error).message}\n${USAGE}\n`);
    return 1;
  }
  try {
    const token = options.cloudflare
      ? await cloudflareTokenFor(options.account, options.stateDir)
      : await devTokenFor(options);
    process.stdout.write(`${token}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`npm run token: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

// The demo imports this module for `localApiSecret`; only running it as a script prints a token.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  main().then((code) => process.exit(code));
}
