// Component tests run under Pulumi's mock runtime: no Worker may reach the Cloudflare API for its live
// migration tag unless a test hands it a source explicitly.
process.env.WORKERS_PLATFORM_LIVE_TAGS ??= "none";
