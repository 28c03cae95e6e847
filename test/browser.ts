/**
 * Debian's Chromium driven by playwright-core: installed by scripts/install-chromium.sh where it is missing
 * (as the build sandbox's packages are), never downloaded.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";

const REPO = path.resolve(__dirname, "..");
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const INSTALL = path.join(REPO, "scripts", "install-chromium.sh");

/** No GPU, no QUIC, nothing fetched in the background: only the pages a test opens reach the network. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where the browser tests write their screenshots for review. */
export const SCREENSHOTS = path.join(REPO, "test-results", "screenshots");

export function ensureChromium(): string {
  if (!existsSync(CHROMIUM)) execFileSync("sh", [INSTALL], { stdio: ["ignore", "inherit", "inherit"] });
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}; run ${INSTALL} as root`);
  return CHROMIUM;
}

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_FLAGS, headless: true });
}
