// What `pulumi package add` and `pulumi up` (through @pulumi/pulumi's run-plugin) load from this folder:
// the provider's classes, which the plugin host serves. In a checkout that is the TypeScript sources,
// through the project's own loader (run-plugin registers ts-node as well, but ts-node type-checks with the
// program's compiler options, not the project's); in the installed package, which ships no components/
// sources, it is the compiled provider under dist/. The schema is read from the .ts files beside this one
// either way.
const { existsSync } = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const loader = path.join(root, "local", "register.cjs");
const compiled = path.join(root, "dist", "provider", "index.js");

if (existsSync(loader) && existsSync(path.join(root, "components", "index.ts"))) {
  require(loader);
  module.exports = require("./index.ts");
} else if (existsSync(compiled)) {
  module.exports = require(compiled);
} else {
  throw new Error(
    `workers-platform provider: no compiled provider at ${compiled} and no TypeScript sources to run: build the package (its dist/ folder) first`,
  );
}
