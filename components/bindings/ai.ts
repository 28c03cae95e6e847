import { bindingKind } from "./kind";

/** Workers AI: `ai: { AI: true }` (one binding name per Worker, as Cloudflare allows). */
export const ai = bindingKind({
  type: "ai",
  field: "ai",
  literal: (name, _enabled: true) => ({ binding: { type: "ai", name } }),
  local: {
    notEmulated:
      "models run on Cloudflare's GPUs, which Miniflare reaches only through a remote proxy signed in to an account; the Worker starts without the binding",
  },
});
