/**
 * Names of the builds platform's vars and secrets that its Pulumi component sets and its Workers read,
 * shared by both so that neither spells them on its own.
 */
/** Where the Build Management Worker offers builds: runner base URLs, comma-separated. */
export const RUNNER_URL = "RUNNER_URL";
/** Bearer token the Build Management Worker presents to its runners (secret). */
export const RUNNER_TOKEN = "RUNNER_TOKEN";
/** Base URL runners report to, when not the one they were started with. */
export const CALLBACK_URL = "CALLBACK_URL";
/** "true": builds may clone `file://` repositories (local walk-throughs only). */
export const ALLOW_FILE_REPOS = "ALLOW_FILE_REPOS";
/** HS256 key of the REST API's bearer tokens (secret). */
export const API_JWT_SECRET = "API_JWT_SECRET";
