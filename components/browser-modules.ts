import { readFileSync } from "node:fs";
import * as esbuild from "esbuild";

/**
 * A Worker can serve browser code it imports as text: `import script from "./page.ts?browser"` gives the
 * module compiled to JavaScript for browsers (TypeScript types removed, imports left as written, so that
 * `./other.js` is fetched by the browser from the same folder); a `.css` or `.html` file is given as it
 * is. The esbuild plugin below does it when a Worker is bundled; the Worker tests' Vite config does the
 * same through `browserModuleText`.
 */
export const BROWSER_SUFFIX = "?browser";

/** This module, part of what configures a Worker's bundle (its cache's fingerprint). */
export const BROWSER_MODULES_CONFIG = __filename;

/** The text a `?browser` import of `file` gives. */
export function browserModuleText(file: string): string {
  const source = readFileSync(file, "utf8");
  if (!/\.[cm]?[jt]s$/.test(file)) return source;
  return esbuild.transformSync(source, {
    loader: file.endsWith("ts") ? "ts" : "js",
    format: "esm",
    target: "es2022",
    sourcefile: file,
    legalComments: "none",
    minifyWhitespace: true,
    minifySyntax: true,
  }).code;
}

/** `?browser` imports in a Worker's bundle. The file stays an input (with its suffix) of the build's metafile. */
export const browserModules: esbuild.Plugin = {
  name: "browser-modules",
  setup(build) {
    build.onResolve({ filter: /\?browser$/ }, async (args) => {
      const bare = args.path.slice(0, -BROWSER_SUFFIX.length);
      const found = await build.resolve(bare, { kind: args.kind, resolveDir: args.resolveDir });
      if (found.errors.length > 0) return { errors: found.errors };
      return { path: found.path, suffix: BROWSER_SUFFIX };
    });
    build.onLoad({ filter: /.*/ }, (args) =>
      args.suffix === BROWSER_SUFFIX ? { contents: browserModuleText(args.path), loader: "text" } : undefined,
    );
  },
};
