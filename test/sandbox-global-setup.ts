import { ensureSandboxPrograms } from "../workers-src/builds/runner/sandbox/host-tools";

/**
 * Builds run in the runner's sandbox in every test that runs one: its Debian packages (bubblewrap,
 * slirp4netns, ...) are installed first where they are missing, as `npm start` does.
 */
export default async function setup() {
  await ensureSandboxPrograms((line) => console.log(line));
}
