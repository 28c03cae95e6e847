// Compatibility only, for a caller not yet moved (local/lock-migrations-cli.ts): the repository's framework
// app is FRAMEWORK_APP in stacks/framework-app.ts, deployed by the generic FrameworkApp component
// (framework-app.ts). Nothing in components/ imports this file; remove it once nothing else does.
export { FRAMEWORK_APP as DEMO_APP } from "../stacks/framework-app";
