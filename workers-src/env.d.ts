import type { ManagementEnv } from "./builds/management/index";

declare global {
  namespace Cloudflare {
    interface Env extends ManagementEnv {}
  }
}
