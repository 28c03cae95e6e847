import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { launcherScript } from "./workerd-tether";

describe("launcherScript", () => {
  it.each([
    { binary: "/opt/workerd/bin/workerd" },
    { binary: "/tmp/with space/workerd" },
    { binary: "/tmp/it's/workerd" },
  ])("runs $binary under setpriv with Miniflare's arguments untouched", ({ binary }) => {
    const dir = mkdtempSync(path.join(tmpdir(), "tether-"));
    try {
      // A stand-in setpriv that prints what it was asked to run, one argument per line.
      const setpriv = path.join(dir, "setpriv");
      writeFileSync(setpriv, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      const launcher = path.join(dir, "launcher.sh");
      writeFileSync(launcher, launcherScript(setpriv, binary), { mode: 0o755 });
      const out = execFileSync(launcher, ["serve", "--binary", "-", "a b"], { encoding: "utf8" });
      expect(out.split("\n").slice(0, -1)).toEqual([
        "--pdeathsig",
        "SIGTERM",
        "--",
        binary,
        "serve",
        "--binary",
        "-",
        "a b",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
