import type { FrameworkAppDeclaration } from "../../components/framework-declaration";

/**
 * The demo app's one declaration of its storage: the FrameworkDemo component derives the Worker's bindings
 * and its Durable Object migrations (recorded in migrations.lock.json) from it.
 */
export const demoApp: FrameworkAppDeclaration = {
  durableObjects: { DEMO_OBJECTS: { className: "DemoObject" } },
  kvNamespaces: ["DEMO_KV"],
};
